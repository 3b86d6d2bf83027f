import assert from 'node:assert/strict';
import supertest from 'supertest';
import { toIso } from '../../src/lib/clock';
import { hashPassword } from '../../src/lib/password';
import { createWebApp } from '../../src/web/create-web-app';
import { articlesTable, describeEachDatabase, TestEnv } from '../support/test-env';
import { csrfFrom, PASSWORD } from '../support/web-world';

const DAY_MS = 24 * 60 * 60 * 1000;
const HOUR_MS = 60 * 60 * 1000;

describeEachDatabase('replies beyond X\'s reach are named, not skipped in silence', (database) => {
  let world: TestEnv;
  let accountId: number;
  let integrationId: number;
  let now: number;
  let tweetId: string;

  /**
   * The account tweeted ten days ago and was then not read (a server switched off): alice replied
   * that day, and since then 800 other mentions came. X serves the 800 newest mentions and
   * searches 7 days back, so alice's reply is out of its reach.
   */
  beforeEach(async function () {
    this.timeout(60_000);
    world = await TestEnv.create(database);
    await world.sql(articlesTable(world));
    now = (await world.emulatorNow()).toMillis();
    await world.setEmulatorClock({ now: new Date(now - 10 * DAY_MS).toISOString() });
    accountId = await world.addAccount(await world.createXUser('kb_news'));
    integrationId = await world.addArticlesIntegration(accountId);
    await world.sql("INSERT INTO articles (title, tweet_text, keep_going) VALUES ('a', 'Ten days ago', 'Yes')");
    assert.equal((await world.pollOnce()).published, 1);
    [{ id: tweetId }] = await world.tweetsBy('kb_news');
    await world.setEmulatorClock({ advance_ms: HOUR_MS });
    await world.replyAs('alice', tweetId, 'a reply X no longer serves');
    await world.setEmulatorClock({ now: new Date(now).toISOString() });
    for (let i = 0; i < 800; i++) await world.control('POST', '/tweets', { as: `reader${i % 10}`, text: `@kb_news note ${i}` });
  });

  afterEach(async () => {
    await world?.close();
  });

  async function adminAgent() {
    const services = await world.services();
    await services.users.create('admin', await hashPassword(PASSWORD), 'admin', toIso(services.clock.now()));
    const agent = supertest.agent(createWebApp(services));
    const login = await agent.get('/login');
    await agent.post('/login').type('form').send({ _csrf: csrfFrom(login.text), username: 'admin', password: PASSWORD });
    return agent;
  }

  it('notes the window once, and shows it in `integration list --json` and on the dashboard until an admin dismisses it', async function () {
    this.timeout(60_000);
    const summary = await world.pollOnce();
    assert.deepEqual(summary.errors, []);
    assert.equal(summary.replies_applied, 0, 'alice\'s reply could not be read');
    assert.equal((await world.pollOnce()).replies_applied, 0);

    const listed = await world.cli(['integration', 'list', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const [integration] = listed.json.integrations;
    assert.equal(integration.id, integrationId);
    assert.equal(integration.unreadableWindows.length, 1, 'one window, however often the account is read after it');
    const [window] = integration.unreadableWindows;
    const from = Date.parse(window.from);
    const to = Date.parse(window.to);
    // From where reading began (just before the tweet) to where search stops reaching back.
    assert.ok(Math.abs(from - (now - 10 * DAY_MS)) < HOUR_MS, `the window starts ten days back, not at ${window.from}`);
    assert.ok(Math.abs(to - (now - 7 * DAY_MS)) < HOUR_MS, `the window ends seven days back, not at ${window.to}`);
    assert.equal(window.reason, 'mentions_beyond_reach');
    assert.match(window.reasonText, /800 newest.*search covers only the last 7 days/);

    const human = await world.cli(['integration', 'list']);
    assert.match(human.stdout, /replies between \S+ and \S+ could not be read: more than 800 mentions/);

    const agent = await adminAgent();
    const dashboard = (await agent.get('/')).text;
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    assert.match(dashboard, new RegExp(`Replies to <a href="/accounts/${accountId}">@kb_news</a>\\s+between <time datetime="${window.from}">${day(from)} [\\d:]+ UTC</time> and <time datetime="${window.to}">${day(to)} [\\d:]+ UTC</time>\\s+could not be read: more than 800 mentions arrived since the last read \\(X serves only the 800 newest\\), and X&#39;s search covers only the last 7 days\\.`));
    assert.match(dashboard, new RegExp(`Records of #${integrationId} articles may be missing them`));

    const unknown = await world.cli(['integration', 'dismiss-window', String(window.id + 1)]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /there is no listed window \d+ of unreadable replies/);

    await agent.post(`/unreadable-windows/${window.id}/dismiss`).type('form').send({ _csrf: csrfFrom(dashboard) });
    const after = (await agent.get('/')).text;
    assert.match(after, /The window of unreadable replies is dismissed/);
    assert.doesNotMatch(after, /could not be read/);
    assert.deepEqual((await world.cli(['integration', 'list', '--json'])).json.integrations[0].unreadableWindows, []);
    await agent.post(`/unreadable-windows/${window.id}/dismiss`).type('form').send({ _csrf: csrfFrom(after) });
    assert.match((await agent.get('/')).text, /There is no listed window \d+: it was dismissed already/);

    // The command line dismisses too (a window noted directly, as a later read would).
    await (await world.services()).unreadableWindows.note({ accountId, from: new Date(now - 9 * DAY_MS).toISOString(), to: new Date(now - 8 * DAY_MS).toISOString(), reason: 'mentions_beyond_reach' }, new Date(now).toISOString());
    const [second] = await (await world.services()).unreadableWindows.listOpen();
    const dismissed = await world.cli(['integration', 'dismiss-window', String(second.id), '--json']);
    assert.deepEqual(dismissed.json, { id: second.id, dismissed: true });
    assert.deepEqual((await world.cli(['integration', 'list', '--json'])).json.integrations[0].unreadableWindows, []);
  });
});
