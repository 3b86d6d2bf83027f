import assert from 'node:assert/strict';
import net from 'node:net';
import cron from 'node-cron';
import { Scheduler } from '../../src/sync/scheduler';
import type { SyncDeps } from '../../src/sync/sync-deps';
import { createArticlesWorld, describeEachDatabase, type TestEnv } from '../support/test-env';

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

  beforeEach(async () => {
    ({ world } = await createArticlesWorld(database, { username: 'kb_timer', integration: { every: '* * * * * *' } }));
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
      const health = await fetch(`${daemon.url}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), {
        status: 'ok',
        checks: { database: { status: 'ok', detail: 'the database answered' }, scheduler: { status: 'ok', detail: 'the scheduler is running' } },
      });
      const home = await fetch(daemon.url);
      assert.match(home.url, /\/setup$/, 'a server without users leads to the first-run page');
      assert.match(await home.text(), /<h1>Welcome to kb-twitter-sync<\/h1>/);
      await world.sql(INSERT_ARTICLE, ['daemon', 'Tweeted by the daemon', 'Yes']);
      await waitFor(async () => (await world.tweetsBy('kb_timer')).length === 1, 'the daemon to tweet');
      assert.equal((await world.tweetsBy('kb_timer'))[0].text, 'Tweeted by the daemon');
    } finally {
      await daemon.stop();
    }
  });

  // The whole sandbox loop through the web pages is test/e2e/web-sandbox-loop.test.ts.
  it('serves only the X API of its sandbox: the control paths are not reachable from outside', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as net.AddressInfo;
        probe.close(() => resolve(free));
      });
    });
    // The sandbox's address comes from PORT, so this test needs a known free port.
    const daemon = await world.startServe({ PORT: String(port) });
    try {
      const sandbox = `http://127.0.0.1:${port}/sandbox/x`;
      const control = await fetch(`${sandbox}/_emulator/users`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'intruder' }),
      });
      assert.equal(control.status, 404);
      assert.equal((await fetch(`${sandbox}/_emulator/tweets`)).status, 404);
      assert.equal((await fetch(`${sandbox}/2/users/me`)).status, 401, 'the X API paths are there, behind OAuth');
      const added = await world.cli(['account', 'add', '--description', 'Sandbox', '--sandbox'], { PORT: String(port) });
      assert.equal(added.code, 1);
      assert.match(added.stderr, /X accounts page/);
    } finally {
      await daemon.stop();
    }
  });
});

describe('scheduler: reply polls on shared schedules', () => {
  let world: TestEnv;
  let accountId: number;

  beforeEach(async () => {
    ({ world, accountId } = await createArticlesWorld('sqlite', { username: 'kb_many', integration: { every: '* * * * * *' } }));
  });
  afterEach(async () => world.close());

  it('polls every integration of one schedule and time zone from a single cron task, and follows a schedule change', async () => {
    for (const table of ['notes', 'faqs', 'nightly']) {
      await world.sql(`CREATE TABLE ${table} (id INTEGER PRIMARY KEY, title TEXT, tweet_text TEXT, replies TEXT, keep_going TEXT)`);
    }
    const everySecond = [1];
    everySecond.push(await world.addArticlesIntegration(accountId, { table: 'notes', every: '* * * * * *' }));
    everySecond.push(await world.addArticlesIntegration(accountId, { table: 'faqs', every: '* * * * * *' }));
    // On an account of its own: a reply poll reads all of its account's integrations.
    const nightlyAccount = await world.addAccount(await world.createXUser('kb_nightly'));
    const nightly = await world.addArticlesIntegration(nightlyAccount, { table: 'nightly', every: '0 3 * * *' });
    const services = await world.services();
    const tasksBefore = cron.getTasks().size;
    const scheduler = new Scheduler(services.sync, 60_000);
    await scheduler.start();
    try {
      assert.equal(cron.getTasks().size - tasksBefore, 2, 'one task for every second in UTC, one for 3 AM in UTC');
      const polled = async (id: number) => (await services.integrations.get(id))?.lastPollAt != null;
      await waitFor(async () => (await Promise.all(everySecond.map(polled))).every(Boolean), 'each every-second integration to be polled');
      assert.equal(await polled(nightly), false, 'the 3 AM integration waits for 3 AM');
      assert.equal(scheduler.nextRun(nightly)?.getUTCHours(), 3);
      assert.equal(scheduler.nextRun(nightly)?.getUTCMinutes(), 0);

      // The nightly one moves to every second: it joins that task, and the 3 AM task goes.
      await services.integrations.update(nightly, { schedule: '* * * * * *' }, new Date().toISOString());
      await scheduler.refresh();
      assert.equal(cron.getTasks().size - tasksBefore, 1, 'one task left, for every second in UTC');
      await waitFor(() => polled(nightly), 'the moved integration to be polled on its new schedule');
    } finally {
      await scheduler.stop();
    }
    assert.equal(cron.getTasks().size, tasksBefore, 'stop destroys the tasks');
  });
});

describeEachDatabase('scheduler: the publish sweep', (database) => {
  let world: TestEnv;

  beforeEach(async () => {
    // A daily reply poll, so every run seen here is the sweep's.
    ({ world } = await createArticlesWorld(database, { username: 'kb_sweep', integration: { every: '0 3 * * *' } }));
  });
  afterEach(async () => world.close());

  it('works only an account with records due, and still publishes a record no wake-up announced', async () => {
    const services = await world.services();
    let runs = 0;
    const leases = Object.create(services.leases, {
      tryAcquire: { value: async (...args: Parameters<typeof services.leases.tryAcquire>) => {
        runs++;
        return services.leases.tryAcquire(...args);
      } },
    });
    const scheduler = new Scheduler({ ...services.sync, leases }, 60_000, { publishSweepMs: 100 });
    await scheduler.start();
    try {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.equal(runs, 0, 'about ten sweeps with nothing due took no lease');
      // Inserted by SQL on another connection with no change watch: only the sweep can find it.
      await world.sql(INSERT_ARTICLE, ['a', 'Found by the sweep', 'Yes']);
      await waitFor(async () => (await world.tweetsBy('kb_sweep')).length === 1, 'the sweep to publish the record');
      await waitFor(async () => (await services.publications.findByRecord(1, '1'))?.state === 'sent', 'the record to be marked sent');
      const runsWhileDue = runs;
      assert.ok(runsWhileDue >= 1);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.equal(runs, runsWhileDue, 'once sent, the sweeps left the account alone');
    } finally {
      await scheduler.stop();
    }
  });
});
