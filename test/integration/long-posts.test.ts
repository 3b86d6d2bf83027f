import assert from 'node:assert/strict';
import { createArticlesWorld, describeEachDatabase, type TestEnv } from '../support/test-env';

const INSERT_ARTICLE = 'INSERT INTO articles (title, tweet_text, keep_going) VALUES (?, ?, ?)';
// Words, so the text reads like a reply; 1,200 characters, far beyond X's 280.
const LONG_TEXT = Array.from({ length: 150 }, (_, i) => `word${i % 10}`).join(' ').slice(0, 1200) + ' the end.';

describeEachDatabase('long posts (X Premium)', (database) => {
  let world: TestEnv;
  let integrationId: number;

  afterEach(async () => world.close());

  it('writes a reply longer than 280 characters into the record whole, from note_tweet', async () => {
    ({ world, integrationId } = await createArticlesWorld(database));
    await world.sql(INSERT_ARTICLE, ['a', 'Tell us at length', 'Yes']);
    await world.pollOnce();
    const [tweet] = await world.tweetsBy('kb_news');
    await world.replyAs('essayist', tweet.id, LONG_TEXT, { long_post: true });
    assert.equal((await world.pollOnce()).replies_applied, 1);
    const [row] = await world.sql('SELECT replies FROM articles');
    assert.ok(String(row.replies).endsWith(`${LONG_TEXT}`), `the whole reply, not X's cut text: ${row.replies}`);
  });

  it('posts a long record whole under the long-text policy "long" when X allows the account long posts', async () => {
    ({ world, integrationId } = await createArticlesWorld(database, { integration: { 'long-text': 'long' } }));
    await world.control('POST', '/users/kb_news/long-posts', { allowed: true });
    await world.sql(INSERT_ARTICLE, ['a', LONG_TEXT, 'Yes']);
    const summary = await world.pollOnce();
    assert.deepEqual(summary.errors, []);
    assert.equal(summary.published, 1);
    const tweets = await world.tweetsBy('kb_news');
    assert.deepEqual(tweets.map((tweet) => tweet.text), [LONG_TEXT], 'one post, the whole text');
  });

  it('fails only the long record, with the reason in words, when X does not allow the account long posts', async () => {
    ({ world, integrationId } = await createArticlesWorld(database, { integration: { 'long-text': 'long' } }));
    await world.sql(INSERT_ARTICLE, ['long', LONG_TEXT, 'Yes']);
    await world.sql(INSERT_ARTICLE, ['short', 'A short one still goes out', 'Yes']);
    const summary = await world.pollOnce();
    assert.equal(summary.published, 1);
    assert.equal(summary.failed, 1);
    const [failed] = await world.sql("SELECT state, reason FROM kbts_publications WHERE state = 'failed'");
    assert.match(failed.reason, /^X refused a long post: this account may not post more than 280 characters \(long posts need X Premium\); give the account X Premium, or choose the long-text policy truncate or thread, then retry the record \(X refused the request \(400: .*too long/);
    const [integration] = await world.sql('SELECT status FROM kbts_integrations WHERE id = ?', [integrationId]);
    assert.equal(integration.status, 'active', 'the account is not paused: its short records still post');
  });

  it('refuses a record longer than 25,000 characters under "long" before calling X', async () => {
    ({ world, integrationId } = await createArticlesWorld(database, { integration: { 'long-text': 'long' } }));
    await world.sql(INSERT_ARTICLE, ['huge', 'x '.repeat(12_501), 'Yes']);
    await world.control('DELETE', '/calls');
    const summary = await world.pollOnce();
    assert.equal(summary.failed, 1);
    const [failed] = await world.sql('SELECT reason FROM kbts_publications');
    assert.match(failed.reason, /the tweet text is 25002 characters; a long post on X is at most 25000 \(long-text policy: long\)/);
    assert.equal((await world.control('GET', '/calls')).by_endpoint['POST /2/tweets'] ?? 0, 0);
  });
});
