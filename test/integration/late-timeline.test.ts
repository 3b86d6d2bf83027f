import assert from 'node:assert/strict';
import { createArticlesWorld, describeEachDatabase, type TestEnv } from '../support/test-env';

const INSERT_ARTICLE = 'INSERT INTO articles (title, tweet_text, keep_going) VALUES (?, ?, ?)';
const TEXT = 'Posted once, however late X shows it';
// The product's default grace period (the test worlds set 0 for the emulator's prompt timeline).
const DEFAULT_GRACE = { KBTS_RECONCILE_GRACE_SECONDS: '120' };

describeEachDatabase('exactly once when X shows a new post late', (database) => {
  let world: TestEnv;
  let integrationId: number;

  beforeEach(async () => {
    ({ world, integrationId } = await createArticlesWorld(database));
    // X shows a new post in the timeline a minute late and, this time, does not refuse the duplicate.
    await world.control('POST', '/behaviour', { timeline_delay_ms: 60_000, refuse_duplicates: false });
    await world.control('POST', '/faults', { rules: [{ endpoint: 'POST /2/tweets', kind: 'lost_response', count: 1 }] });
    await world.sql(INSERT_ARTICLE, ['a', TEXT, 'Yes']);
  });
  afterEach(async () => world.close());

  const postsOfText = async () => (await world.tweetsBy('kb_news')).filter((tweet) => tweet.text === TEXT);
  const publication = async () => (await world.sql('SELECT state, reason, tweet_id FROM kbts_publications WHERE integration_id = ?', [integrationId]))[0];

  it('a lost answer with a late timeline and no duplicate refusal still gives exactly one post', async () => {
    const first = await world.pollOnce(DEFAULT_GRACE);
    assert.equal(first.published, 0);
    assert.equal(first.deferred, 1);
    assert.equal((await postsOfText()).length, 1, 'X made the post; its answer was lost');
    const waiting = await publication();
    assert.equal(waiting.state, 'sending');
    assert.match(waiting.reason, /answer to the post was lost and the post is not among the account's posts yet; X can show a new post late/);

    assert.equal((await world.pollOnce(DEFAULT_GRACE)).published, 0, 'not due again inside the grace period');
    assert.equal((await postsOfText()).length, 1);

    // A minute later X shows the post; two minutes later (the default grace) the record looks again.
    await world.setEmulatorClock({ advance_ms: 60_000 });
    await world.sql("UPDATE kbts_publications SET next_attempt_at = '2000-01-01T00:00:00.000Z', updated_at = ?", [new Date(Date.now() - 121_000).toISOString()]);
    const found = await world.pollOnce(DEFAULT_GRACE);
    assert.deepEqual(found.errors, []);
    assert.equal(found.published, 1);
    const posts = await postsOfText();
    assert.equal(posts.length, 1, 'exactly one post');
    const sent = await publication();
    assert.equal(sent.state, 'sent');
    assert.equal(sent.tweet_id, posts[0].id);
  });

  it('posts twice without the grace period: the danger the grace period is for', async () => {
    await world.pollOnce({ KBTS_RECONCILE_GRACE_SECONDS: '0' });
    assert.equal((await postsOfText()).length, 2);
  });

  it('refuses a grace period that is not a whole number of seconds, saying which setting', async () => {
    const result = await world.cli(['--json', 'poll', '--once'], { KBTS_RECONCILE_GRACE_SECONDS: 'soon' });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /KBTS_RECONCILE_GRACE_SECONDS/);
    assert.equal((await postsOfText()).length, 0);
  });
});

describe('the emulator\'s behaviour controls', () => {
  let world: TestEnv;
  beforeEach(async () => {
    ({ world } = await createArticlesWorld('sqlite'));
  });
  afterEach(async () => world.close());

  it('refuses bad behaviour settings in words', async () => {
    const response = await fetch(`${world.emulator.url}/_emulator/behaviour`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ timeline_delay_ms: -1 }),
    });
    assert.equal(response.status, 400);
    assert.match(((await response.json()) as { error: string }).error, /timeline_delay_ms must be a whole number/);
    const unknown = await fetch(`${world.emulator.url}/_emulator/behaviour`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ slow: true }),
    });
    assert.equal(unknown.status, 400);
  });
});
