import assert from 'node:assert/strict';
import type { Services } from '../../src/app';
import { probeHeldAccounts } from '../../src/sync/credits-probe';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { resumeIntegration } from '../../src/setup/integration-setup';
import { articlesTable, describeEachDatabase, TestEnv } from '../support/test-env';
import { until } from '../support/webhook-product';

const REASON = /^X credits are used up; add credits in the X developer console, then resume \(X answered 402: credits depleted\)$/;

describeEachDatabase('X answering 402: the account\'s credits are used up', (database) => {
  let world: TestEnv;
  let services: Services;
  let accountId: number;
  let integrationId: number;
  let notesIntegrationId: number;

  const credits = (depleted: boolean) => world.control('POST', '/users/kb_paying/credits', { depleted });
  const states = async (id: number) => (await world.sql<{ state: string }>('SELECT state FROM kbts_publications WHERE integration_id = ? ORDER BY record_key', [id])).map((row) => row.state);

  beforeEach(async () => {
    world = await TestEnv.create(database);
    await world.sql(articlesTable(world));
    await world.sql(articlesTable(world).replace('articles', 'notes'));
    accountId = await world.addAccount(await world.createXUser('kb_paying'));
    await world.createXUser('reader');
    const settings = { account: String(accountId), 'tweet-field': 'tweet_text', 'response-field': 'replies', mode: 'append', 'continue-field': 'keep_going' };
    integrationId = await world.addIntegration({ ...settings, table: 'articles' });
    notesIntegrationId = await world.addIntegration({ ...settings, table: 'notes' });
    services = await world.services();
  });
  afterEach(async () => world.close());

  it('keeps posts pending and pauses all the account\'s integrations with the reason; the probe resumes them and each record is tweeted once', async () => {
    await credits(true);
    for (const title of ['a', 'b', 'c']) await world.sql('INSERT INTO articles (title, tweet_text, keep_going) VALUES (?, ?, ?)', [title, `Worth paying for ${title}`, 'Yes']);
    await world.sql('INSERT INTO notes (title, tweet_text, keep_going) VALUES (?, ?, ?)', ['n', 'A note', 'Yes']);

    const refused = await runPollCycle(services.sync);
    assert.equal(refused.failed, 0, 'a 402 is no record\'s failure');
    assert.equal(refused.published, 0);
    assert.equal(refused.accounts[0]?.outcome, 'paused');
    for (const id of [integrationId, notesIntegrationId]) {
      const paused = await services.integrations.get(id);
      assert.equal(paused?.status, 'paused');
      assert.match(paused?.pausedReason ?? '', REASON);
    }
    assert.deepEqual(await states(integrationId), ['pending', 'pending', 'pending']);
    const listed = await world.cli(['--json', 'integration', 'list']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.json.integrations[0].paused_reason, REASON);

    // The probe asks X (GET /2/users/me) while the credits are still out: nothing changes.
    assert.deepEqual((await probeHeldAccounts(services.costs.probe, { force: true })).map((o) => o.outcome), ['still_held']);
    assert.equal((await services.integrations.get(integrationId))?.status, 'paused');
    assert.equal((await runPollCycle(services.sync)).accounts.length, 0, 'a paused account makes no calls');

    await credits(false);
    assert.deepEqual((await probeHeldAccounts(services.costs.probe, { force: true })).map((o) => o.outcome), ['resumed']);
    assert.equal((await services.integrations.get(integrationId))?.status, 'active');
    assert.equal((await services.integrations.get(notesIntegrationId))?.status, 'active');
    assert.deepEqual(await probeHeldAccounts(services.costs.probe, { force: true }), [], 'the hold is lifted');

    assert.equal((await runPollCycle(services.sync)).published, 4);
    assert.equal((await runPollCycle(services.sync)).published, 0);
    assert.deepEqual((await world.tweetsBy('kb_paying')).map((tweet) => tweet.text).sort(), ['A note', 'Worth paying for a', 'Worth paying for b', 'Worth paying for c']);
  });

  it('honours the probe interval: an account probed a moment ago is not asked again yet', async () => {
    await credits(true);
    await world.sql('INSERT INTO articles (title, tweet_text, keep_going) VALUES (?, ?, ?)', ['a', 'Worth it', 'Yes']);
    await runPollCycle(services.sync);
    await credits(false);
    assert.deepEqual(await probeHeldAccounts(services.costs.probe), [], 'KBTS_CREDITS_PROBE_SECONDS (900 s) has not passed since the 402');
    assert.equal((await services.integrations.get(integrationId))?.status, 'paused');
  });

  it('a 402 on the second page of the mentions read applies nothing and moves no cursor; after `integration resume` each reply is written once', async () => {
    await world.sql('INSERT INTO articles (title, tweet_text, keep_going) VALUES (?, ?, ?)', ['a', 'Ask me anything', 'Yes']);
    assert.equal((await runPollCycle(services.sync)).published, 1);
    const [tweet] = await world.tweetsBy('kb_paying');
    // More than one page of mentions (the client asks for 100 a page).
    for (let n = 1; n <= 105; n++) await world.replyAs('reader', tweet.id, `answer ${n}`);
    const cursorBefore = (await services.accounts.get(accountId))?.mentionsCursorId ?? null;
    await world.control('POST', '/faults', { rules: [{ endpoint: 'GET /2/users/:id/mentions', kind: 'status', status: 402, skip: 1, count: 1 }] });

    const refused = await runPollCycle(services.sync);
    assert.equal(refused.repliesApplied, 0);
    assert.equal(refused.accounts[0]?.outcome, 'paused');
    assert.match((await services.integrations.get(integrationId))?.pausedReason ?? '', REASON);
    assert.equal((await services.accounts.get(accountId))?.mentionsCursorId ?? null, cursorBefore, 'the cursor moves only after a read finished');

    // `integration resume` of one integration resumes the account's work (both integrations).
    await resumeIntegration(services.integrationSetup, notesIntegrationId);
    assert.equal((await services.integrations.get(integrationId))?.status, 'active');
    const resumed = await runPollCycle(services.sync);
    assert.equal(resumed.repliesApplied, 105);
    assert.equal((await runPollCycle(services.sync)).repliesApplied, 0);
    const [{ replies }] = await world.sql<{ replies: string }>('SELECT replies FROM articles');
    for (const n of [1, 50, 100, 105]) assert.equal(replies.match(new RegExp(`answer ${n}(?!\\d)`, 'g'))?.length, 1, `answer ${n} is written once`);
    const counted = await world.sql<{ n: number | string }>("SELECT COUNT(*) AS n FROM kbts_communications WHERE direction = 'in'");
    assert.equal(Number(counted[0].n), 105);
  });

  it('a running daemon probes on its own and, once the credits are back, tweets the waiting record once', async function () {
    this.timeout(120_000);
    await credits(true);
    const daemon = world.startDaemon(['poll'], {
      LOG_LEVEL: 'info', KBTS_CREDITS_PROBE_SECONDS: '10', KBTS_SCHEDULER_REFRESH_MS: '500', KBTS_PUBLISH_SWEEP_MS: '500',
    });
    try {
      await until('the scheduler to start', async () => daemon.logLines.some((line) => line.msg === 'scheduler started' || line.message === 'scheduler started'), 60_000);
      await world.sql('INSERT INTO articles (title, tweet_text, keep_going) VALUES (?, ?, ?)', ['a', 'Waiting for credits', 'Yes']);
      await until('the account to pause', async () => (await services.integrations.get(integrationId))?.status === 'paused', 30_000);
      assert.match((await services.integrations.get(integrationId))?.pausedReason ?? '', REASON);
      await credits(false);
      await until('the waiting record to be tweeted', async () => (await world.tweetsBy('kb_paying')).length > 0, 60_000);
      assert.ok(daemon.logLines.some((line) => /account hold lifted/.test(String(line.msg ?? line.message))), 'the probe lifted the hold');
      // A record made after the resume goes out too; the first is not tweeted again meanwhile.
      await world.sql('INSERT INTO articles (title, tweet_text, keep_going) VALUES (?, ?, ?)', ['b', 'After the credits', 'Yes']);
      await until('the second record to be tweeted', async () => (await world.tweetsBy('kb_paying')).length > 1, 30_000);
      assert.deepEqual((await world.tweetsBy('kb_paying')).map((tweet) => tweet.text).sort(), ['After the credits', 'Waiting for credits']);
    } finally {
      await daemon.stop();
    }
  });
});
