import assert from 'node:assert/strict';
import { createArticlesWorld, describeEachDatabase, type TestEnv } from '../support/test-env';

const INSERT_ARTICLE = 'INSERT INTO articles (title, tweet_text, keep_going) VALUES (?, ?, ?)';
const MENTIONS = 'GET /2/users/:id/mentions';

describeEachDatabase('reading X defensively', (database) => {
  let world: TestEnv;
  let accountId: number;
  let integrationId: number;

  beforeEach(async () => {
    ({ world, accountId, integrationId } = await createArticlesWorld(database));
  });
  afterEach(async () => world.close());

  const cursor = async () => (await world.sql('SELECT mentions_cursor_id FROM kbts_accounts WHERE id = ?', [accountId]))[0].mentions_cursor_id;
  const mentionCalls = async () => (await world.control('GET', '/calls')).by_endpoint[MENTIONS] ?? 0;

  async function tweetWithReplies(count: number): Promise<void> {
    await world.sql(INSERT_ARTICLE, ['a', 'An article people answer', 'Yes']);
    assert.equal((await world.pollOnce()).published, 1);
    const [tweet] = await world.tweetsBy('kb_news');
    for (let i = 0; i < count; i++) await world.replyAs(`reader${i}`, tweet.id, `answer ${i}`);
  }

  it('stops when X repeats a page token, writes what it read, keeps the cursor, and poll --once says so and exits non-zero', async () => {
    await tweetWithReplies(2);
    const cursorBefore = await cursor();
    await world.control('DELETE', '/calls');
    // The API Playground answered every page with the same next_token, 190 times until a 429.
    await world.control('POST', '/faults', { rules: [{ endpoint: MENTIONS, kind: 'repeat_next_token', count: 500 }] });

    const result = await world.cli(['--json', 'poll', '--once']);
    assert.equal(result.code, 3, result.stdout + result.stderr);
    assert.equal(await mentionCalls(), 2, 'the repeated token is never followed a second time');
    assert.equal(result.json.replies_applied, 0, 'the failed account\'s work is reported as failed, not as counts');
    assert.equal(result.json.accounts.length, 1);
    const [outcome] = result.json.accounts;
    assert.equal(outcome.account_id, accountId);
    assert.equal(outcome.outcome, 'failed');
    assert.match(outcome.reason, /X repeated a page token while reading users\/\d+\/mentions \(after 2 pages\)/);
    assert.match(outcome.reason, /2 replies read so far were written and the reply cursor was not moved/);
    assert.match(result.json.errors[0], /repeated a page token/);
    assert.equal(await cursor(), cursorBefore, 'the cursor does not move after an unfinished read');
    const [integration] = await world.sql('SELECT last_error FROM kbts_integrations WHERE id = ?', [integrationId]);
    assert.match(integration.last_error, /repeated a page token/);
    const [row] = await world.sql('SELECT replies FROM articles');
    assert.equal(String(row.replies).split('\n').length, 2, 'the pages read were written, idempotently');

    await world.control('DELETE', '/faults');
    const healthy = await world.cli(['--json', 'poll', '--once']);
    assert.equal(healthy.code, 0, healthy.stdout + healthy.stderr);
    assert.deepEqual(healthy.json.errors, []);
    assert.equal(healthy.json.replies_applied, 0, 'nothing written twice');
    assert.equal(healthy.json.accounts[0].outcome, 'done');
    assert.notEqual(await cursor(), cursorBefore, 'a finished read moves the cursor');
  });

  it('stops the mentions timeline at the page cap (KBTS_MAX_PAGES_PER_READ) with the reason, without moving the cursor', async () => {
    await tweetWithReplies(1);
    const cursorBefore = await cursor();
    await world.control('DELETE', '/calls');
    await world.control('POST', '/faults', { rules: [{ endpoint: MENTIONS, kind: 'repeat_next_token', count: 1 }] });
    const result = await world.cli(['--json', 'poll', '--once'], { KBTS_MAX_PAGES_PER_READ: '1' });
    assert.equal(result.code, 3, result.stdout + result.stderr);
    assert.equal(await mentionCalls(), 1);
    assert.match(result.json.accounts[0].reason, /reached the cap of 1 pages \(KBTS_MAX_PAGES_PER_READ\) and is not complete/);
    assert.equal(await cursor(), cursorBefore);
  });

  it('refuses a page cap that is not a whole number, saying which setting', async () => {
    const result = await world.cli(['--json', 'poll', '--once'], { KBTS_MAX_PAGES_PER_READ: 'lots' });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /KBTS_MAX_PAGES_PER_READ/);
  });

  it('gives each account\'s outcome: rate-limited until the reset, and exits 0 for it', async () => {
    await world.sql(INSERT_ARTICLE, ['a', 'Waits for the rate limit', 'Yes']);
    await world.control('POST', '/faults', { rules: [{ endpoint: 'POST /2/tweets', kind: 'rate_limit', resetInSeconds: 900, count: 1 }] });
    const result = await world.cli(['--json', 'poll', '--once']);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const [outcome] = result.json.accounts;
    assert.equal(outcome.outcome, 'rate_limited');
    assert.ok(Date.parse(outcome.rate_limited_until) > (await world.emulatorNow()).toMillis());
  });

  it('gives each account\'s outcome: paused with X\'s reason when X refuses the account', async () => {
    await world.sql(INSERT_ARTICLE, ['a', 'Refused', 'Yes']);
    await world.control('POST', '/users/kb_news/revoke');
    const result = await world.cli(['--json', 'poll', '--once']);
    assert.equal(result.code, 3, result.stdout + result.stderr);
    const [outcome] = result.json.accounts;
    assert.equal(outcome.outcome, 'paused');
    assert.match(outcome.reason, /401/);
  });
});
