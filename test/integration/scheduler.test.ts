import assert from 'node:assert/strict';
import net from 'node:net';
import { Scheduler } from '../../src/sync/scheduler';
import type { SyncDeps } from '../../src/sync/sync-deps';
import { articlesTable, describeEachDatabase, TestEnv } from '../support/test-env';

const INSERT_ARTICLE = 'INSERT INTO articles (title, tweet_text, keep_going) VALUES (?, ?, ?)';

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describeEachDatabase('scheduler', (database) => {
  let world: TestEnv;
  let accountId: number;

  beforeEach(async () => {
    world = await TestEnv.create(database);
    await world.sql(articlesTable(world));
    accountId = await world.addAccount(await world.createXUser('kb_timer'));
    await world.addIntegration({
      account: String(accountId), table: 'articles', 'tweet-field': 'tweet_text', 'response-field': 'replies',
      mode: 'append', 'continue-field': 'keep_going', every: '* * * * * *',
    });
  });
  afterEach(async () => world.close());

  it('survives a failing tick and publishes at the next one, never overlapping itself', async () => {
    const services = await world.services();
    let running = 0;
    let mostAtOnce = 0;
    let failuresLeft = 1;
    // A cycle starts when it asks for the account's lease and ends when it gives it back, failed
    // or not; an overlapping cycle would stay counted (it is refused the lease and leaves).
    const leases = Object.create(services.leases, {
      tryAcquire: { value: async (...args: Parameters<typeof services.leases.tryAcquire>) => {
        running++;
        mostAtOnce = Math.max(mostAtOnce, running);
        return services.leases.tryAcquire(...args);
      } },
      release: { value: async (...args: Parameters<typeof services.leases.release>) => {
        running--;
        return services.leases.release(...args);
      } },
    });
    const deps: SyncDeps = {
      ...services.sync,
      leases,
      createXClient: async (account) => {
        if (failuresLeft-- > 0) throw new Error('simulated failure building the client');
        return services.sync.createXClient(account);
      },
    };
    // Every post takes longer than the one-second schedule, so ticks would overlap if they could.
    await world.control('POST', '/faults', { rules: [{ endpoint: 'POST /2/tweets', kind: 'latency', ms: 1500, count: 2 }] });
    const scheduler = new Scheduler(deps, 60_000);
    await world.sql(INSERT_ARTICLE, ['a', 'Scheduled one', 'Yes']);
    await world.sql(INSERT_ARTICLE, ['b', 'Scheduled two', 'Yes']);
    await scheduler.start();
    try {
      await waitFor(async () => (await world.tweetsBy('kb_timer')).length === 2, 'both records to be tweeted');
    } finally {
      await scheduler.stop();
    }
    assert.equal(failuresLeft < 0, true, 'the failing tick ran');
    assert.equal(mostAtOnce, 1, 'no two ticks of one integration ran at once');
    const integration = (await services.integrations.list())[0];
    assert.notEqual(integration.lastPollAt, null);
  });

  it('runs as a daemon with `serve`: a row inserted by SQL is tweeted by the scheduled poll', async () => {
    const daemon = await world.startServe();
    try {
      assert.deepEqual(await (await fetch(`${daemon.url}/healthz`)).json(), { ok: true });
      assert.match(await (await fetch(daemon.url)).text(), /<h1>kb-twitter-sync is running<\/h1>/);
      await world.sql(INSERT_ARTICLE, ['daemon', 'Tweeted by the daemon', 'Yes']);
      await waitFor(async () => (await world.tweetsBy('kb_timer')).length === 1, 'the daemon to tweet');
      assert.equal((await world.tweetsBy('kb_timer'))[0].text, 'Tweeted by the daemon');
    } finally {
      await daemon.stop();
    }
  });

  it('runs the whole loop in the sandbox of a running server, with no X credentials at all', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as net.AddressInfo;
        probe.close(() => resolve(free));
      });
    });
    // The sandbox's address comes from PORT, so this test needs a known free port.
    const daemon = await world.startServe({ PORT: String(port), KBTS_SCHEDULER_REFRESH_MS: '500' });
    try {
      const sandbox = `http://127.0.0.1:${port}/sandbox/x/_emulator`;
      const added = await world.cli(['--json', 'account', 'add', '--description', 'Sandbox', '--sandbox'], { PORT: String(port) });
      assert.equal(added.code, 0, added.stderr);
      assert.equal(added.json.screen_name, 'kb_sandbox');
      await world.sql(`CREATE TABLE ideas (id ${world.autoId}, tweet_text TEXT, replies TEXT, keep_going TEXT)`);
      await world.addIntegration({
        account: String(added.json.id), table: 'ideas', 'tweet-field': 'tweet_text', 'response-field': 'replies',
        mode: 'append', 'continue-field': 'keep_going', every: '* * * * * *',
      });
      await world.sql('INSERT INTO ideas (tweet_text, keep_going) VALUES (?, ?)', ['Hello from the sandbox', 'Yes']);
      let tweets: Array<{ id: string; text: string }> = [];
      await waitFor(async () => {
        tweets = ((await (await fetch(`${sandbox}/tweets?author=kb_sandbox`)).json()) as { tweets: typeof tweets }).tweets;
        return tweets.length === 1;
      }, 'the sandbox tweet (the scheduler picks up the new integration at its next refresh)');
      assert.equal(tweets[0].text, 'Hello from the sandbox');
      await fetch(`${sandbox}/tweets`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ as: 'alice', text: 'nice idea', in_reply_to_tweet_id: tweets[0].id, created_at: '2026-11-22T14:03:00.000Z' }),
      });
      const replies = async () => (await world.sql('SELECT replies FROM ideas'))[0].replies;
      await waitFor(async () => (await replies()) !== null, 'the reply in the record');
      assert.equal(await replies(), '[2026-11-22 14:03 UTC] @alice: nice idea');
    } finally {
      await daemon.stop();
    }
  });
});
