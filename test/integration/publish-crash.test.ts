import assert from 'node:assert/strict';
import { createArticlesWorld, describeEachDatabase, type TestEnv } from '../support/test-env';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeEachDatabase('a poll killed while publishing', (database) => {
  let world: TestEnv;

  beforeEach(async () => {
    ({ world } = await createArticlesWorld(database));
  });
  afterEach(async () => world.close());

  for (const [kind, texts] of [
    ['different texts', Array.from({ length: 16 }, (_, i) => `Crash course part ${i}`)],
    // Alike once links are set aside, which is how reconciliation compares texts.
    ['texts that differ only in their links', Array.from({ length: 16 }, (_, i) => `Read it at https://example.com/a${i}`)],
  ] as const) {
    it(`loses no post and tweets none twice (${kind})`, async () => {
      for (const [i, text] of texts.entries()) {
        await world.sql('INSERT INTO articles (title, tweet_text, keep_going) VALUES (?, ?, ?)', [`t${i}`, text, 'Yes']);
      }
      await world.control('POST', '/faults', { rules: [{ endpoint: 'POST /2/tweets', kind: 'latency', ms: 30, probability: 1 }] });
      const env = { KBTS_LEASE_SECONDS: '2' };
      const poll = world.startDaemon(['poll', '--once'], env);
      const deadline = Date.now() + 60_000;
      while ((await world.tweetsBy('kb_news')).length < 6) {
        assert.ok(Date.now() < deadline, 'the poll posts');
        await sleep(10);
      }
      // The next post hangs; the poll is killed while it waits, its earlier posts just made.
      await world.control('POST', '/faults', { rules: [{ endpoint: 'POST /2/tweets', kind: 'latency', ms: 30_000, count: 1 }] });
      await sleep(500);
      await poll.stop('SIGKILL');
      const tweetsAtKill = (await world.tweetsBy('kb_news')).length;
      const [{ n: sentAtKill }] = await world.sql("SELECT COUNT(*) AS n FROM kbts_publications WHERE state = 'sent'");
      assert.ok(tweetsAtKill < texts.length, 'killed with work left');
      // Alike texts are never left unlogged together, so only different ones can be caught so.
      if (kind === 'different texts') assert.ok(Number(sentAtKill) < tweetsAtKill, `killed with posts not yet committed (${sentAtKill} of ${tweetsAtKill})`);

      await world.control('DELETE', '/faults');
      await sleep(2500); // the killed poll's lease runs out
      await world.pollOnce(env); // the next poll, a process of its own as far as leases go

      const tweets = await world.tweetsBy('kb_news');
      assert.deepEqual(tweets.map((tweet) => tweet.text).sort(), [...texts].sort(), 'each text tweeted exactly once');
      const textById = new Map(tweets.map((tweet) => [tweet.id, tweet.text]));
      const rows = await world.sql(`SELECT a.tweet_text, p.state, p.tweet_id FROM articles a
        JOIN kbts_publications p ON p.record_key = CAST(a.id AS TEXT)`);
      assert.equal(rows.length, texts.length);
      for (const row of rows) {
        assert.equal(row.state, 'sent');
        assert.equal(textById.get(row.tweet_id), row.tweet_text, 'each record holds its own tweet');
      }
      const [log] = await world.sql("SELECT COUNT(*) AS n, COUNT(DISTINCT tweet_id) AS ids FROM kbts_communications WHERE direction = 'out'");
      assert.deepEqual([Number(log.n), Number(log.ids)], [texts.length, texts.length]);
    });
  }
});
