import assert from 'node:assert/strict';
import { createArticlesWorld, describeEachDatabase, type TestEnv } from '../support/test-env';

describeEachDatabase('records begun together and stopped before their post', (database) => {
  let world: TestEnv;
  let integrationId: number;

  beforeEach(async () => {
    ({ world, integrationId } = await createArticlesWorld(database));
  });
  afterEach(async () => world.close());

  it('are given back untouched when the cycle stops at a rate limit, so an edit before their post still counts', async () => {
    for (let i = 1; i <= 5; i++) await world.sql('INSERT INTO articles (title, tweet_text, keep_going) VALUES (?, ?, ?)', [`t${i}`, `Queued article ${i}`, 'Yes']);
    await world.control('POST', '/faults', { rules: [{ endpoint: 'POST /2/tweets', kind: 'rate_limit', resetInSeconds: 3, count: 1 }] });
    const env = { KBTS_MAX_RATE_LIMIT_WAIT_MS: '0' };
    const limited = await world.pollOnce(env);
    assert.equal(limited.published, 0);
    const publications = await (await world.services()).publications.listForIntegration(integrationId);
    assert.equal(publications[0].state, 'pending');
    assert.equal(publications[0].reason, 'waiting for the X rate limit to reset');
    for (const publication of publications.slice(1)) {
      assert.deepEqual(
        [publication.state, publication.attempts, publication.plannedParts, publication.attemptStartedAt, publication.nextAttemptAt],
        ['pending', 0, null, null, null],
        `record ${publication.recordKey} is as the capture trigger left it`,
      );
    }

    await world.sql('UPDATE articles SET tweet_text = ? WHERE id = 3', ['Queued article 3, edited before it went out']);
    // Until X's window is over: the reset X sent (whole seconds, so up to 4 s away).
    const resetAt = Date.parse(publications[0].nextAttemptAt ?? '');
    assert.ok(resetAt > Date.now(), 'the first record waits for the reset X gave');
    await new Promise((resolve) => setTimeout(resolve, resetAt - Date.now() + 20));
    const after = await world.pollOnce(env);
    assert.equal(after.published, 5);
    const texts = (await world.tweetsBy('kb_news')).map((tweet) => tweet.text).sort();
    assert.deepEqual(texts, ['Queued article 1', 'Queued article 2', 'Queued article 3, edited before it went out', 'Queued article 4', 'Queued article 5']);
  });
});
