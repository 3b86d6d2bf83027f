import assert from 'node:assert/strict';
import type { Services } from '../../src/app';
import { ingestReplies } from '../../src/sync/inbound/ingest';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { readMentionsTimeline } from '../../src/sync/sources/mentions-timeline';
import { searchConversations } from '../../src/sync/sources/sub-thread-search';
import { tweetIdBefore } from '../../src/twitter/snowflake';
import { articlesTable, describeEachDatabase, TestEnv } from '../support/test-env';

describeEachDatabase('one ingestion step fed by several sources', (database) => {
  let world: TestEnv;
  let services: Services;
  let accountId: number;

  beforeEach(async () => {
    world = await TestEnv.create(database);
    await world.sql(articlesTable(world));
    accountId = await world.addAccount(await world.createXUser('kb_news'));
    await world.addIntegration({
      account: String(accountId), table: 'articles', 'tweet-field': 'tweet_text', 'response-field': 'replies',
      mode: 'append', 'continue-field': 'keep_going',
    });
    services = await world.services();
    await world.sql('INSERT INTO articles (title, tweet_text, keep_going) VALUES (?, ?, ?)', ['a', 'Tell us what you think', 'Yes']);
    assert.equal((await runPollCycle(services.sync)).published, 1);
  });
  afterEach(async () => world.close());

  const readBothSources = async () => {
    const account = (await services.accounts.get(accountId))!;
    const [tweet] = await world.tweetsBy('kb_news');
    const x = await services.sync.createXClient(account);
    const sinceId = tweetIdBefore(tweet.id);
    const mentions = (await readMentionsTimeline(x, account, sinceId)).tweets;
    const search = await searchConversations(x, [tweet.id], sinceId);
    return { account, integrations: await services.integrations.listForAccount(accountId), mentions, search };
  };
  const repliesField = async () => (await world.sql('SELECT replies FROM articles WHERE id = 1'))[0].replies as string | null;
  const loggedIn = async () => (await services.communications.list({ direction: 'in' })).length;

  it('writes a reply that the mentions timeline and the conversation search both deliver once, whichever comes first', async () => {
    const [tweet] = await world.tweetsBy('kb_news');
    await world.replyAs('alice', tweet.id, 'seen by both');
    const { account, integrations, mentions, search } = await readBothSources();
    assert.equal(mentions.length, 1);
    // The conversation search also finds the account's own tweet, which ingestion leaves alone.
    assert.ok(search.some((found) => found.id === mentions[0].id), 'both sources see the same reply');

    const first = await ingestReplies(services.sync, account, integrations, mentions);
    const second = await ingestReplies(services.sync, account, integrations, search);
    assert.deepEqual(first, { repliesApplied: 1, repliesLogged: 0 });
    assert.deepEqual(second, { repliesApplied: 0, repliesLogged: 0 });
    assert.match((await repliesField()) ?? '', /^\[[^\]]+\] @alice: seen by both$/);
    assert.equal(await loggedIn(), 1);
  });

  it('writes a reply delivered twice in one batch once', async () => {
    const [tweet] = await world.tweetsBy('kb_news');
    await world.replyAs('bob', tweet.id, 'twice in one go');
    const { account, integrations, mentions, search } = await readBothSources();
    const counts = await ingestReplies(services.sync, account, integrations, [...mentions, ...search]);
    assert.deepEqual(counts, { repliesApplied: 1, repliesLogged: 0 });
    assert.equal(String(await repliesField()).split('\n').length, 1);
    assert.equal(await loggedIn(), 1);
  });

  it('moves the cursor only forward, in the transaction that writes the replies', async () => {
    const [tweet] = await world.tweetsBy('kb_news');
    const reply = await world.replyAs('carol', tweet.id, 'cursor check');
    const { account, integrations, mentions } = await readBothSources();
    await ingestReplies(services.sync, account, integrations, mentions, { moveCursorTo: reply.id });
    assert.equal((await services.accounts.get(accountId))?.mentionsCursorId, reply.id);
    const moved = (await services.accounts.get(accountId))!;
    await ingestReplies(services.sync, moved, integrations, mentions, { moveCursorTo: tweet.id });
    assert.equal((await services.accounts.get(accountId))?.mentionsCursorId, reply.id, 'an older id never moves it back');
  });
});
