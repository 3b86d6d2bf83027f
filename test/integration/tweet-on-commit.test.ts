import assert from 'node:assert/strict';
import { Scheduler } from '../../src/sync/scheduler';
import { createArticlesWorld, describeEachDatabase, POSTGRES_URL, type Daemon, type TestEnv } from '../support/test-env';
import { csrfFrom, WebWorld } from '../support/web-world';

// Tweet on commit (issue 11, section 1): a running daemon tweets a new record as soon as its insert
// commits, whoever wrote it, while the integration's polling frequency governs replies only. Every
// integration here polls replies hourly, and the publisher's sweep keeps its 30 s default, so a
// record tweeted within the waits below was tweeted because its commit woke the publisher.

const HOURLY = '0 * * * *';
const INSERT_ARTICLE = 'INSERT INTO articles (title, tweet_text, keep_going) VALUES (?, ?, ?)';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function started(daemon: Daemon): Promise<void> {
  await waitFor(async () => daemon.logLines.some((line) => line.message === 'scheduler started'), 'the daemon to start its scheduler', 30_000);
}

function publishedBy(daemon: Daemon): number {
  return daemon.logLines.filter((line) => line.message === 'poll finished').reduce((sum, line) => sum + Number(line.published ?? 0), 0);
}

describeEachDatabase('tweet on commit', (database) => {
  let world: TestEnv;

  beforeEach(async () => {
    ({ world } = await createArticlesWorld(database, { username: 'kb_commit', integration: { every: HOURLY } }));
  });
  afterEach(async () => world.close());

  it('tweets rows another process inserts, once each, with two workers running and replies polled hourly', async () => {
    const workers = [0, 1].map(() => world.startDaemon(['poll'], { LOG_LEVEL: 'info' }));
    try {
      for (const worker of workers) await started(worker);
      const texts = ['Committed elsewhere one', 'Committed elsewhere two', 'Committed elsewhere three'];
      // A separate OS process with its own connection: better-sqlite3 on the file, or pg.
      await world.insertFromOtherProcess(INSERT_ARTICLE, texts.map((text, index) => [`row ${index}`, text, 'Yes']));
      await waitFor(async () => (await world.tweetsBy('kb_commit')).length >= texts.length, 'the three rows to be tweeted');
      // Both workers were woken by the same commit; a second tweet would come from the slower one.
      await sleep(1500);
      const tweeted = (await world.tweetsBy('kb_commit')).map((tweet) => tweet.text).sort();
      assert.deepEqual(tweeted, [...texts].sort(), 'each row tweeted, once');
      const states = await world.sql('SELECT state FROM kbts_publications');
      assert.deepEqual(states.map((row) => row.state), ['sent', 'sent', 'sent']);
      assert.equal(publishedBy(workers[0]) + publishedBy(workers[1]), texts.length, 'the workers\' logs account for each tweet once');
    } finally {
      for (const worker of workers) await worker.stop();
    }
  });

  it('tweets a row a plain SQL connection inserts while `serve` runs, and keeps "Last reply poll" for the reply poll', async () => {
    const daemon = world.startDaemon(['serve'], { LOG_LEVEL: 'info', PORT: '0' });
    try {
      await started(daemon);
      await world.sql(INSERT_ARTICLE, ['plain', 'Inserted by a SQL client', 'Yes']);
      await waitFor(async () => (await world.tweetsBy('kb_commit')).length === 1, 'the row to be tweeted');
      assert.equal((await world.tweetsBy('kb_commit'))[0].text, 'Inserted by a SQL client');
      const [integration] = await world.sql('SELECT last_poll_at FROM kbts_integrations');
      assert.equal(integration.last_poll_at, null, 'publishing on commit is not a reply poll');
    } finally {
      await daemon.stop();
    }
  });
});

describeEachDatabase('tweet on commit from the web form', (database) => {
  let web: WebWorld;
  let scheduler: Scheduler;

  beforeEach(async () => {
    web = await WebWorld.create({
      database,
      web: (services) => {
        // No database watch: only the record route's in-process signal can wake the publisher.
        scheduler = new Scheduler(services.sync, 60_000);
        return { scheduler };
      },
    });
    await web.withSandboxIntegration({ username: 'kb_form' });
    await web.services.db('kbts_integrations').update({ schedule: HOURLY });
    await scheduler.start();
  });
  afterEach(async () => {
    await scheduler.stop();
    await web.close();
  });

  it('tweets a record created with the form without "Run now"', async () => {
    const editor = await web.signIn('edith', 'editor');
    const form = await editor.get('/records/articles/new');
    const created = await editor.post('/records/articles').type('form').send({
      _csrf: csrfFrom(form.text), 'field:title': 'Form', 'field:tweet_text': 'Typed into the form, tweeted on commit', 'field:keep_going': 'Yes',
      _form: /name="_form" value="([^"]+)"/.exec(form.text)?.[1] ?? '',
    });
    assert.equal(created.status, 303, created.text);
    await waitFor(async () => (await web.services.publications.findByRecord(1, '1'))?.state === 'sent', 'the record to be tweeted');
    assert.deepEqual(web.sandbox.timeline('kb_form').tweets.map((tweet) => tweet.text), ['Typed into the form, tweeted on commit']);
  });

  it('tweets a record created through the JSON API without "Run now"', async () => {
    const editor = await web.signIn('edith', 'editor');
    const answer = await editor.post('/me/tokens').type('form').send({ _csrf: await web.csrf(editor), name: 'writer' });
    const token = /<code id="new-token">(kbts_[\w-]+)<\/code>/.exec(answer.text)?.[1];
    assert.ok(token, 'a token was made');
    const response = await fetch(`${web.url}/api/v1/tables/articles/records`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'API', tweet_text: 'Sent through the API, tweeted on commit', keep_going: 'Yes' }),
    });
    assert.equal(response.status, 201, await response.text());
    await waitFor(async () => (await web.services.publications.findByRecord(1, '1'))?.state === 'sent', 'the record to be tweeted');
    assert.deepEqual(web.sandbox.timeline('kb_form').tweets.map((tweet) => tweet.text), ['Sent through the API, tweeted on commit']);
  });

  it('keeps a record that finds its account held by another worker, and tweets it once that worker lets go', async () => {
    const leases = web.services.leases;
    // This server's own worker may hold the account for a moment (its start-up sweep): the other takes it once free.
    await waitFor(() => leases.tryAcquire('account:1', 'another worker', new Date().toISOString(), new Date(Date.now() + 60_000).toISOString()), 'the other worker to hold the account');
    await web.services.db('articles').insert({ title: 'Busy', tweet_text: 'Waited for the account', keep_going: 'Yes' });
    web.services.signals.recordsChanged('articles');
    await sleep(1500);
    assert.equal((await web.services.publications.findByRecord(1, '1'))?.state, 'pending', 'not tweeted while another worker holds the account');
    await leases.release('account:1', 'another worker');
    // No new signal and the sweep 30 s away: only the queued retry can tweet it now.
    await waitFor(async () => (await web.services.publications.findByRecord(1, '1'))?.state === 'sent', 'the queued record to be tweeted');
    assert.deepEqual(web.sandbox.timeline('kb_form').tweets.map((tweet) => tweet.text), ['Waited for the account']);
  });

  it('past X\'s post limit, leaves new records pending without calling X, and the record page says until when', async () => {
    web.sandbox.setRateLimit({ endpoint: 'POST /2/tweets', limit: 2, window_seconds: 900 });
    const insert = async (text: string) => {
      await web.services.db('articles').insert({ title: text, tweet_text: text, keep_going: 'Yes' });
      web.services.signals.recordsChanged('articles');
    };
    for (const text of ['Within the limit one', 'Within the limit two', 'Refused by X']) await insert(text);
    await waitFor(async () => (await web.services.publications.findByRecord(1, '3'))?.reason === 'waiting for the X rate limit to reset', 'X to refuse the third post');
    const postsAfterRefusal = web.sandbox.getCalls().by_endpoint['POST /2/tweets'];
    await insert('Waits without a call');
    await waitFor(async () => (await web.services.publications.findByRecord(1, '4')) !== undefined, 'the fourth record to be captured');
    await sleep(1000);
    assert.equal(web.sandbox.getCalls().by_endpoint['POST /2/tweets'], postsAfterRefusal, 'no post is tried while X allows none');
    assert.deepEqual(web.sandbox.timeline('kb_form').tweets.map((tweet) => tweet.text).sort(), ['Within the limit one', 'Within the limit two']);
    assert.deepEqual((await web.services.publications.listForIntegration(1)).map((publication) => publication.state), ['sent', 'sent', 'pending', 'pending']);
    const viewer = await web.signIn('vic', 'viewer');
    for (const key of ['3', '4']) {
      const page = await viewer.get(`/records/articles/rows/${key}`);
      assert.match(page.text, /Waiting for X's post limit for this account \(100 posts per 15 minutes\): tweeted after \d{4}-\d\d-\d\d \d\d:\d\d/, `record ${key} says until when`);
    }
  });
});

(POSTGRES_URL ? describe : describe.skip)('tweet on commit: the PostgreSQL listener (needs KBTS_TEST_POSTGRES_URL)', function () {
  this.timeout(120_000);
  let world: TestEnv;

  beforeEach(async () => {
    ({ world } = await createArticlesWorld('postgres', { username: 'kb_listen', integration: { every: HOURLY } }));
  });
  afterEach(async () => world.close());

  const listenerPids = async () => (await world.sql(
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'kbts-records-listener'",
  )).map((row) => Number(row.pid));

  it('reconnects after its connection is terminated, and a row committed while it was away is still tweeted once', async () => {
    const daemon = world.startDaemon(['poll'], { LOG_LEVEL: 'info' });
    try {
      await started(daemon);
      const [first] = await listenerPids();
      assert.ok(first, 'the daemon listens on a connection of its own');
      await world.sql('SELECT pg_terminate_backend(?)', [first]);
      await waitFor(async () => !(await listenerPids()).includes(first), 'the listener\'s backend to end');
      // No one listens now: this commit's notification is lost, and the sweep after the reconnect finds the row.
      await world.sql(INSERT_ARTICLE, ['missed', 'Committed while nobody listened', 'Yes']);
      await waitFor(async () => (await world.tweetsBy('kb_listen')).length === 1, 'the row to be tweeted');
      await waitFor(async () => daemon.logLines.some((line) => line.message === 'records listener reconnected'), 'the listener to reconnect');
      const [again] = await listenerPids();
      assert.ok(again && again !== first, 'a new listening connection');

      // Listening again: the next commit is tweeted through its notification.
      await world.sql(INSERT_ARTICLE, ['heard', 'Committed after the reconnect', 'Yes']);
      await waitFor(async () => (await world.tweetsBy('kb_listen')).length === 2, 'the second row to be tweeted');
      await sleep(1000);
      assert.deepEqual((await world.tweetsBy('kb_listen')).map((tweet) => tweet.text).sort(), ['Committed after the reconnect', 'Committed while nobody listened']);
    } finally {
      await daemon.stop();
    }
  });
});
