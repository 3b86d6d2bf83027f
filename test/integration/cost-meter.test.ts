import assert from 'node:assert/strict';
import { buildServices, type Services } from '../../src/app';
import { loadConfig } from '../../src/config';
import { silentLogger } from '../../src/lib/logger';
import type { Account } from '../../src/store/accounts';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { movableClock } from '../support/movable-clock';
import { parsePrometheusText, sampleValue } from '../support/prometheus-text';
import { articlesTable, describeEachDatabase, TestEnv } from '../support/test-env';

describeEachDatabase('the cost meter counts what X returned, per account and UTC day', (database) => {
  let world: TestEnv;
  let services: Services;
  let clock: ReturnType<typeof movableClock>;
  let accountId: number;
  let account: Account;

  beforeEach(async () => {
    world = await TestEnv.create(database);
    await world.sql(articlesTable(world));
    accountId = await world.addAccount(await world.createXUser('kb_meter'));
    await world.createXUser('reader');
    // The emulator's time: the meter's UTC day is the test's.
    clock = movableClock(await world.emulatorNow());
    services = await buildServices(loadConfig({ ...world.env, METRICS_TOKEN: 'a-metrics-token-of-16+' }), { logger: silentLogger, clock, migrate: false });
    account = (await services.accounts.get(accountId))!;
  });
  afterEach(async () => {
    await services.close();
    await world.close();
  });

  const units = async () => (await services.costs.meter.estimate(accountId)).today.units;

  it('counts a scripted sequence of calls through the real client: reads per resource returned and once per UTC day, posts by URL or not', async () => {
    const x = await services.sync.createXClient(account);
    const me = await x.me();
    await x.me();
    assert.equal((await units()).user_read, 1, 'the same user read twice in a UTC day is charged once');

    const plain = await x.postTweet('A plain post');
    await x.postTweet('A post with a link: example.com/page');
    await world.replyAs('reader', plain.id, 'first answer');
    await world.replyAs('reader', plain.id, 'second answer');
    await world.control('POST', '/tweets', { as: 'reader', text: 'cats are great' });
    await world.control('POST', '/tweets', { as: 'reader', text: 'cats again' });
    await world.control('POST', '/tweets', { as: 'reader', text: 'cats thrice' });

    const own = await x.ownTweetsSince(me.id, clock.now().minus({ hours: 1 }).toISO()!);
    assert.equal(own.length, 2);
    const mentions = await x.mentionsSince(me.id, null);
    assert.equal(mentions.length, 2);
    await x.mentionsSince(me.id, null);
    const found = await x.searchRecent('cats', null);
    assert.equal(found.length, 3);
    // The mentions again, found by search: charged already today.
    await x.searchRecent('answer', null);

    const today = await units();
    assert.deepEqual(today, {
      owned_read: 4, post_read: 3, user_read: 1, dm_event_read: 0, post_created: 1, post_created_with_url: 1, dm_created: 0, media_upload: 0,
    });
    const estimate = await services.costs.meter.estimate(accountId);
    assert.equal(estimate.today.usd, Math.round((4 * 0.001 + 3 * 0.005 + 0.010 + 0.015 + 0.200) * 1e6) / 1e6);

    // The next UTC day charges the same resources again.
    clock.set(clock.now().plus({ days: 1 }));
    await world.setEmulatorClock({ advance_ms: 86_400_000 });
    const tomorrow = await services.sync.createXClient(account);
    await tomorrow.me();
    await tomorrow.mentionsSince(me.id, null);
    const next = await services.costs.meter.estimate(accountId);
    const seenOn = await services.db('kbts_x_usage_seen').where({ account_id: accountId }).distinct('day').pluck('day');
    assert.deepEqual(seenOn, [next.today.period], 'the ids seen the day before are dropped by the first client of the day');
    assert.equal(next.today.units.user_read, 1);
    assert.equal(next.today.units.owned_read, 2);
    if (next.month.period === estimate.month.period) assert.equal(next.month.units.owned_read, 6, 'the month adds the days up');
  });

  it('counts the sync engine\'s own calls, and shows them through `account costs --json` and /metrics', async () => {
    const integrationId = await world.addArticlesIntegration(accountId);
    await world.sql('INSERT INTO articles (title, tweet_text, keep_going) VALUES (?, ?, ?)', ['a', 'Read https://example.org/a', 'Yes']);
    await world.sql('INSERT INTO articles (title, tweet_text, keep_going) VALUES (?, ?, ?)', ['b', 'No link here', 'Yes']);
    assert.equal((await runPollCycle(services.sync)).published, 2);
    assert.ok(integrationId > 0);
    const today = await units();
    assert.equal(today.post_created_with_url, 1);
    assert.equal(today.post_created, 1);

    const month = clock.now().toFormat('yyyy-MM');
    const printed = await world.cli(['--json', 'account', 'costs', String(accountId), '--month', month]);
    assert.equal(printed.code, 0, printed.stderr);
    assert.equal(printed.json.month.period, month);
    assert.equal(printed.json.month.units.post_created_with_url, 1);
    assert.equal(printed.json.month.usd, (await services.costs.meter.estimate(accountId)).month.usd);

    const text = await services.metrics.text();
    assert.equal(sampleValue(parsePrometheusText(text), 'kbts_estimated_cost_usd', { account: String(accountId), period: 'day' }), (await services.costs.meter.estimate(accountId)).today.usd);
  });

  it('refuses an unknown account and a month that is no month, in words, with a non-zero exit', async () => {
    const unknown = await world.cli(['--json', 'account', 'costs', '999']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.json.error, /there is no account 999/);
    const badMonth = await world.cli(['--json', 'account', 'costs', String(accountId), '--month', '2026-13']);
    assert.notEqual(badMonth.code, 0);
    assert.match(badMonth.json.error, /--month must be a month as YYYY-MM, such as 2026-12, not '2026-13'/);
  });
});
