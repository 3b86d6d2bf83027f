import assert from 'node:assert/strict';
import { toIso } from '../../src/lib/clock';
import { whileHoldingAccount } from '../../src/sync/account-lease';
import { emptyCounts, workAccount } from '../../src/sync/poll-cycle';
import { createArticlesWorld, describeEachDatabase, type TestEnv } from '../support/test-env';

const INSERT_ARTICLE = 'INSERT INTO articles (title, tweet_text, keep_going) VALUES (?, ?, ?)';

describeEachDatabase('replies to a tweet whose post is not committed yet', (database) => {
  let world: TestEnv;
  let accountId: number;

  beforeEach(async () => {
    ({ world, accountId } = await createArticlesWorld(database));
  });
  afterEach(async () => world.close());

  /** A reply poll as the daemon's schedule runs it: collecting only, no publishing (so no reconciliation). */
  const replyPoll = () => world.asNewProcess(async (services) => {
    const integrations = await services.integrations.listForAccount(accountId);
    const held = await whileHoldingAccount(services.sync, accountId, () => workAccount(services.sync, accountId, integrations, emptyCounts(), { publish: false, collect: true }));
    assert.ok(held.held);
  });

  it('writes a reply to a tweet a crash left "sending" into its record once the post is reconciled, though reply polls read it first', async () => {
    await world.sql(INSERT_ARTICLE, ['a', 'The first article', 'Yes']);
    await world.pollOnce();
    const [first] = await world.tweetsBy('kb_news');
    // What a process killed between a post and its commit leaves: the tweet on X, its record
    // "sending" with no tweet id (the attempt begun, the post's write never committed).
    await world.sql(INSERT_ARTICLE, ['b', 'The second article', 'Yes']);
    const startedAt = toIso(await world.emulatorNow());
    const posted = await world.control('POST', '/tweets', { as: 'kb_news', text: 'The second article' });
    await world.sql(
      "UPDATE kbts_publications SET state = 'sending', attempts = 1, planned_parts = ?, attempt_started_at = ?, updated_at = ? WHERE record_key = (SELECT CAST(id AS TEXT) FROM articles WHERE title = 'b')",
      [JSON.stringify(['The second article']), startedAt, startedAt],
    );
    await world.replyAs('alice', posted.id, 'an answer to the second');
    // Minutes later, past the read overlap, the conversation the KB knows goes on.
    await world.setEmulatorClock({ advance_ms: 5 * 60_000 });
    const later = await world.replyAs('bob', first.id, 'a later answer to the first');
    await replyPoll();
    await replyPoll();

    // The next publishing finds the post among the account's tweets; the replies follow.
    await world.pollOnce();
    await world.pollOnce();
    const [b] = await world.sql("SELECT a.replies, p.state, p.tweet_id FROM articles a JOIN kbts_publications p ON p.record_key = CAST(a.id AS TEXT) WHERE a.title = 'b'");
    assert.equal(b.state, 'sent');
    assert.equal(b.tweet_id, posted.id);
    assert.match(String(b.replies), /an answer to the second$/);
    const [a] = await world.sql("SELECT replies FROM articles WHERE title = 'a'");
    assert.match(String(a.replies), /a later answer to the first$/);
    // Once nothing is left unsettled the cursor moves on past every reply it read.
    const [account] = await world.sql('SELECT mentions_cursor_id FROM kbts_accounts WHERE id = ?', [accountId]);
    assert.equal(account.mentions_cursor_id, later.id);
    assert.equal((await world.pollOnce()).replies_applied, 0, 'nothing is written twice');
  });
});
