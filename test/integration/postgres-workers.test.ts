import assert from 'node:assert/strict';
import pg from 'pg';
import { POSTGRES_URL, TestEnv, type Daemon, type EmulatorUser } from '../support/test-env';

const ACCOUNTS = 4;
const RECORDS = 1000;
const REPLIES = 2000;
const ENDPOINTS = ['POST /2/tweets', 'GET /2/users/:id/mentions', 'GET /2/users/:id/tweets', 'GET /2/tweets/search/recent', 'GET /2/users/me'];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

function publishedBy(worker: Daemon): number {
  return worker.logLines.filter((line) => line.message === 'poll finished').reduce((sum, line) => sum + Number(line.published ?? 0), 0);
}

(POSTGRES_URL ? describe : describe.skip)('several workers on one PostgreSQL database (needs KBTS_TEST_POSTGRES_URL; .ci/run starts a server)', function () {
  this.timeout(240_000);
  let world: TestEnv;
  let users: EmulatorUser[];

  beforeEach(async () => {
    world = await TestEnv.create('postgres');
    for (const endpoint of ENDPOINTS) await world.control('POST', '/rate-limits', { endpoint, limit: 1_000_000 });
    users = [];
    for (let i = 1; i <= ACCOUNTS; i++) {
      const user = await world.createXUser(`kb_worker_${i}`);
      users.push(user);
      const accountId = await world.addAccount(user);
      await world.sql(`CREATE TABLE notes_${i} (id SERIAL PRIMARY KEY, tweet_text TEXT, replies TEXT, keep_going TEXT)`);
      await world.addIntegration({
        account: String(accountId), table: `notes_${i}`, 'tweet-field': 'tweet_text', 'response-field': 'replies',
        mode: 'append', 'continue-field': 'keep_going', every: '* * * * * *',
      });
    }
  });
  afterEach(async () => world.close());

  it('shares 1,000 records and 2,000 replies among three workers, one killed midway: each tweeted once, each reply applied once', async () => {
    const workerEnv = { LOG_LEVEL: 'info', KBTS_LEASE_SECONDS: '3', KBTS_SCHEDULER_REFRESH_MS: '500' };
    const workers = [0, 1, 2].map(() => world.startDaemon(['poll'], workerEnv));
    try {
      const inserting = (async () => {
        for (let batch = 0; batch < RECORDS / 25; batch++) {
          const table = `notes_${(batch % ACCOUNTS) + 1}`;
          const values = Array.from({ length: 25 }, (_, i) => `('Shared work item ${batch * 25 + i}', 'Yes')`).join(', ');
          await world.sql(`INSERT INTO ${table} (tweet_text, keep_going) VALUES ${values}`);
          await sleep(250);
        }
      })();
      const totalTweets = async () => {
        let total = 0;
        for (const user of users) total += (await world.tweetsBy(user.username)).length;
        return total;
      };
      await waitFor(async () => (await totalTweets()) >= 300, 'the first 300 tweets', 60_000);
      await workers[0].stop('SIGKILL');
      const tweetsAtKill = await totalTweets();

      const expectedReplies: Array<{ text: string; tweetId: string }> = [];
      let posted = 0;
      while (posted < REPLIES) {
        for (const user of users) {
          const tweets = await world.tweetsBy(user.username);
          for (const tweet of tweets.slice(-10)) {
            if (posted >= REPLIES) break;
            const text = `reply number ${posted}`;
            await world.replyAs(`reader_${posted % 50}`, tweet.id, text);
            expectedReplies.push({ text, tweetId: tweet.id });
            posted++;
          }
        }
      }
      await inserting;

      await waitFor(async () => {
        const [row] = await world.sql("SELECT COUNT(*) AS n FROM kbts_communications WHERE direction = 'in' AND applied = true");
        return Number(row.n) === REPLIES && (await totalTweets()) === RECORDS;
      }, 'every record tweeted and every reply applied', 150_000);

      for (const user of users) {
        const texts = (await world.tweetsBy(user.username)).map((tweet) => tweet.text);
        assert.equal(new Set(texts).size, texts.length, `no text tweeted twice by @${user.username}`);
      }
      const [states] = await world.sql("SELECT COUNT(*) FILTER (WHERE state = 'sent') AS sent, COUNT(*) AS total FROM kbts_publications");
      assert.deepEqual([Number(states.sent), Number(states.total)], [RECORDS, RECORDS]);
      const [log] = await world.sql("SELECT COUNT(*) AS n, COUNT(DISTINCT tweet_id) AS distinct_ids FROM kbts_communications WHERE direction = 'in'");
      assert.deepEqual([Number(log.n), Number(log.distinct_ids)], [REPLIES, REPLIES]);

      const recordsByTweet = new Map<string, string>();
      for (let i = 1; i <= ACCOUNTS; i++) {
        const rows = await world.sql(`SELECT p.tweet_id, n.replies FROM notes_${i} n JOIN kbts_publications p ON p.record_key = n.id::text AND p.integration_id = ?`, [i]);
        for (const row of rows) recordsByTweet.set(row.tweet_id, row.replies ?? '');
      }
      for (const reply of expectedReplies) {
        const field = recordsByTweet.get(reply.tweetId) ?? '';
        const occurrences = field.split('\n').filter((line) => line.endsWith(`: ${reply.text}`)).length;
        assert.equal(occurrences, 1, `"${reply.text}" appears once in its record`);
      }

      assert.ok(tweetsAtKill < RECORDS, 'the worker was killed while work remained');
      const survivors = workers.slice(1).map(publishedBy);
      if (process.env.KBTS_TEST_VERBOSE) console.log({ killed: publishedBy(workers[0]), survivors, tweetsAtKill });
      // How the work spreads over the workers is issue 17's (scale-out) to measure; since publishing
      // follows notifications, one worker may well do all of it. What must hold is above: once each.
      // A SIGKILL loses the log line of the tick it cuts short, so only the work done after the
      // kill is surely logged: by the survivors, less what their last tick may not have logged yet.
      const logged = publishedBy(workers[0]) + survivors[0] + survivors[1];
      assert.ok(logged <= RECORDS, `the logs claim no more than was tweeted (${logged})`);
      assert.ok(survivors[0] + survivors[1] >= RECORDS - tweetsAtKill - 25, `the survivors' logs account for the work after the kill (${survivors.join(' + ')} of ${RECORDS - tweetsAtKill})`);
    } finally {
      for (const worker of workers) await worker.stop();
    }
  });

  it('captures every row inserted from 8 connections whose transactions commit out of order', async () => {
    const clients = await Promise.all(Array.from({ length: 8 }, async () => {
      const client = new pg.Client({ connectionString: world.databaseUrl });
      await client.connect();
      return client;
    }));
    try {
      // Each connection inserts in turn (so ids are handed out in order) and they commit in reverse.
      for (const [index, client] of clients.entries()) {
        await client.query('BEGIN');
        for (let row = 0; row < 25; row++) {
          await client.query('INSERT INTO notes_1 (tweet_text, keep_going) VALUES ($1, $2)', [`Out of order ${index}-${row}`, 'Yes']);
        }
      }
      for (const client of [...clients].reverse().slice(0, 4)) await client.query('COMMIT');
      // A poll between the commits sees the newest ids before the oldest ones exist for it.
      assert.equal((await world.pollOnce()).published, 100);
      for (const client of [...clients].reverse().slice(4)) await client.query('COMMIT');
      assert.equal((await world.pollOnce()).published, 100);
      const [captured] = await world.sql('SELECT COUNT(*) AS n FROM kbts_publications');
      assert.equal(Number(captured.n), 200);
      assert.equal((await world.tweetsBy('kb_worker_1')).length, 200);
    } finally {
      await Promise.all(clients.map((client) => client.end()));
    }
  });
});
