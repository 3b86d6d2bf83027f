import assert from 'node:assert/strict';
import { hashPassword } from '../../src/lib/password';
import { toIso } from '../../src/lib/clock';
import { TalkbackSettingsStore } from '../../src/store/agent-replies';
import { queueAgentReply, type AgentReplyRequest } from '../../src/sync/outbound/agent-replies';
import { dmDeepLink } from '../../src/sync/agent-reply-text';
import { weightedLength } from '../../src/twitter/weighted-length';
import { createArticlesWorld, describeEachDatabase, type ArticlesWorld } from '../support/test-env';

describeEachDatabase('agent replies from the record', (database) => {
  let world: ArticlesWorld;
  let recordTweetId: string;
  let readerReplyId: string;
  let agentId: number;
  let keys = 0;

  beforeEach(async () => {
    world = await createArticlesWorld(database, { username: 'kbdesk' });
    await world.world.sql("INSERT INTO articles (title, tweet_text, keep_going) VALUES ('Q', 'Does the export keep formatting?', 'Yes')");
    await world.world.pollOnce();
    [{ id: recordTweetId }] = await world.world.tweetsBy('kbdesk');
    ({ id: readerReplyId } = await world.world.replyAs('alice', recordTweetId, 'Does it work on Mac too?'));
    await world.world.pollOnce();
    agentId = await world.world.asNewProcess(async (services) => {
      const id = await services.users.create('jdoe', await hashPassword('a long enough password'), 'editor', toIso(services.clock.now()));
      await new TalkbackSettingsStore(services.db).setDisplayName(id, 'John Doe');
      return id;
    });
  });
  afterEach(async () => world.world.close());

  const queue = (request: Partial<AgentReplyRequest>) => world.world.asNewProcess((services) => queueAgentReply(services, {
    integrationId: world.integrationId, recordKey: '1', text: 'Yes, it does.', userId: agentId, idempotencyKey: `key-${++keys}`, ...request,
  }));
  const switches = (agentInitials: boolean, dmDeepLink: boolean) => world.world.asNewProcess((services) => new TalkbackSettingsStore(services.db).setSwitches(world.integrationId, { agentInitials, dmDeepLink }));
  const repliesField = async () => String((await world.world.sql('SELECT replies FROM articles WHERE id = 1'))[0].replies ?? '');
  const accountReplies = async () => (await world.world.tweetsBy('kbdesk')).filter((tweet) => tweet.id !== recordTweetId);

  it('posts the reply once under the chosen tweet, signed and with the DM link, keeps it in the record and logs it with its writer', async () => {
    await switches(true, true);
    const { reply, created } = await queue({ inReplyToTweetId: readerReplyId });
    assert.equal(created, true);
    assert.equal(reply.state, 'pending');
    const link = dmDeepLink(world.account.id);
    assert.equal(reply.text, `Yes, it does. - J.D ${link}`);
    await world.world.pollOnce();
    const posted = await accountReplies();
    assert.equal(posted.length, 1);
    assert.equal(posted[0].text, `Yes, it does. - J.D ${link}`);
    assert.deepEqual(posted[0].referenced_tweets, [{ type: 'replied_to', id: readerReplyId }]);
    const [row] = await world.world.sql('SELECT state, tweet_id FROM kbts_agent_replies');
    assert.deepEqual([row.state, row.tweet_id], ['sent', posted[0].id]);
    const field = await repliesField();
    assert.match(field, /\] @kbdesk \(J\.D\): Yes, it does\.$/m);
    const [log] = await world.world.sql("SELECT direction, written_by, author_username, text FROM kbts_communications WHERE tweet_id = ?", [posted[0].id]);
    assert.deepEqual([log.direction, log.written_by, log.author_username, log.text], ['out', 'jdoe', 'kbdesk', posted[0].text]);

    // X returns the account's reply as part of the conversation: nothing is written twice.
    await world.world.pollOnce();
    assert.equal(await repliesField(), field);
    assert.equal((field.match(/J\.D/g) ?? []).length, 1);
  });

  it('asks again with the same key, or the same text to the same tweet, and gets the reply already queued', async () => {
    const first = await queue({ idempotencyKey: 'form-1' });
    const again = await queue({ idempotencyKey: 'form-1' });
    const otherTab = await queue({ idempotencyKey: 'form-2' });
    assert.equal(again.created, false);
    assert.equal(otherTab.created, false);
    assert.equal(again.reply.id, first.reply.id);
    assert.equal(otherTab.reply.id, first.reply.id);
    await world.world.pollOnce();
    await world.world.pollOnce();
    assert.equal((await accountReplies()).length, 1);
  });

  for (const [fault, rule] of [
    ['a lost answer', { endpoint: 'POST /2/tweets', kind: 'lost_response', count: 1 }],
    ['a 503', { endpoint: 'POST /2/tweets', kind: 'status', status: 503, count: 1 }],
    ['a dropped connection', { endpoint: 'POST /2/tweets', kind: 'drop', count: 1 }],
  ] as const) {
    it(`posts exactly once after ${fault}`, async () => {
      await queue({});
      await world.world.control('POST', '/faults', { rules: [rule] });
      await world.world.pollOnce();
      await world.world.pollOnce();
      const posted = await accountReplies();
      assert.equal(posted.length, 1, 'one reply on X');
      const [row] = await world.world.sql('SELECT state, tweet_id FROM kbts_agent_replies');
      assert.deepEqual([row.state, row.tweet_id], ['sent', posted[0].id]);
      assert.equal(((await repliesField()).match(/Yes, it does\./g) ?? []).length, 1, 'written into the record once');
    });
  }

  it('waits untouched when X refuses the account (402), pausing it, and goes once when the account is resumed', async () => {
    await queue({});
    await world.world.control('POST', '/faults', { rules: [{ endpoint: 'POST /2/tweets', kind: 'status', status: 402, count: 1 }] });
    await world.world.pollOnce();
    const [paused] = await world.world.sql('SELECT status, paused_reason FROM kbts_integrations');
    assert.equal(paused.status, 'paused');
    assert.match(paused.paused_reason, /credits are used up/);
    const [waiting] = await world.world.sql('SELECT state FROM kbts_agent_replies');
    assert.equal(waiting.state, 'pending', 'not failed: the account was refused, not the reply');
    await world.world.sql("UPDATE kbts_integrations SET status = 'active', paused_reason = NULL");
    await world.world.pollOnce();
    assert.equal((await accountReplies()).length, 1);
    assert.equal((await world.world.sql('SELECT state FROM kbts_agent_replies'))[0].state, 'sent');
  });

  it('counts the initials and the DM link in the 280 and refuses a longer reply with the count, posting nothing', async () => {
    await switches(true, true);
    const suffix = ` - J.D ${dmDeepLink(world.account.id)}`;
    const room = 280 - weightedLength(suffix);
    assert.equal(weightedLength(suffix), 30, 'the initials " - J.D" (6), a space and a URL (23)');
    const fits = 'a'.repeat(room);
    assert.equal((await queue({ text: fits })).reply.text, fits + suffix);
    await assert.rejects(queue({ text: 'b'.repeat(room + 1) }), /281 of 280 weighted characters with the initials and link the integration adds; shorten it by 1/);
    await switches(false, false);
    assert.equal((await queue({ text: 'c'.repeat(280) })).reply.text, 'c'.repeat(280));
  });

  it('refuses bad input in words and posts nothing', async () => {
    await assert.rejects(queue({ text: '   \n ' }), /the reply is empty/);
    await assert.rejects(queue({ text: 'nul \u0000 here' }), /NUL character/);
    await assert.rejects(queue({ text: 'broken \ud800 text' }), /broken Unicode/);
    await assert.rejects(queue({ inReplyToTweetId: '123456789' }), /tweet 123456789 is not part of record 1's conversation/);
    await assert.rejects(queue({ recordKey: '99' }), /record 99 no longer exists in table 'articles'/);
    const viewer = await world.world.asNewProcess(async (services) => services.users.create('vera', await hashPassword('a long enough password'), 'viewer', toIso(services.clock.now())));
    await assert.rejects(queue({ userId: viewer }), /your role \(viewer\) does not allow replying/);
    await world.world.sql("INSERT INTO articles (title, tweet_text, keep_going) VALUES ('R', ?, 'Yes')", ['x'.repeat(300)]);
    await world.world.pollOnce();
    await assert.rejects(queue({ recordKey: '2' }), /record 2's tweet failed/);
    await world.world.sql("INSERT INTO articles (title, tweet_text, keep_going) VALUES ('S', 'Held back', 'No')");
    await world.world.pollOnce();
    await assert.rejects(queue({ recordKey: '3' }), /record 3's tweet was skipped/);
    await world.world.sql("UPDATE kbts_integrations SET status = 'paused', paused_reason = 'paused by an admin'");
    await assert.rejects(queue({}), /integration \d+ is paused \(paused by an admin\): resume it before replying/);
    assert.equal(Number((await world.world.sql('SELECT COUNT(*) AS n FROM kbts_agent_replies'))[0].n), 0);
    assert.equal((await accountReplies()).length, 0);
  });

  it('fails a reply whose record was deleted after it was queued, without posting it', async () => {
    await queue({});
    await world.world.sql('DELETE FROM articles WHERE id = 1');
    await world.world.pollOnce();
    const [row] = await world.world.sql('SELECT state, reason FROM kbts_agent_replies');
    assert.deepEqual([row.state, row.reason], ['failed', 'the record was deleted before the reply was sent; nothing was posted']);
    assert.equal((await accountReplies()).length, 0);
  });

  it("says X's self-serve reply rule in words when the answered post does not mention the account", async () => {
    // A direct reply that does not mention the account (as the webhook's post.reply.create logs it).
    const quiet = await world.world.replyAs('bob', readerReplyId, 'I never mention anyone', { mention: false });
    await world.world.sql(`INSERT INTO kbts_communications (integration_id, publication_id, record_key, direction, tweet_id, conversation_id, in_reply_to_tweet_id,
      author_username, text, applied, recorded_at) SELECT integration_id, id, record_key, 'in', ?, tweet_id, ?, 'bob', 'I never mention anyone', ?, ? FROM kbts_publications WHERE record_key = '1'`,
    [quiet.id, readerReplyId, false, toIso((await world.world.emulatorNow()))]);
    await queue({ inReplyToTweetId: quiet.id });
    const result = await world.world.pollOnce();
    assert.deepEqual(result.errors, [], 'the account is not paused for one refused reply');
    const [row] = await world.world.sql('SELECT state, reason FROM kbts_agent_replies');
    assert.equal(row.state, 'failed');
    assert.match(row.reason, /X does not allow this reply: with self-serve API access an account may only reply to a post whose author mentioned or quoted @kbdesk/);
    assert.equal((await accountReplies()).length, 0);
    const [integration] = await world.world.sql('SELECT status FROM kbts_integrations');
    assert.equal(integration.status, 'active');
  });

  it('never writes a tweet the account made outside the KB into the record', async () => {
    const before = await repliesField();
    await world.world.replyAs('kbdesk', readerReplyId, 'Typed in an X client');
    await world.world.pollOnce();
    assert.equal(await repliesField(), before);
    assert.equal(Number((await world.world.sql("SELECT COUNT(*) AS n FROM kbts_communications WHERE text LIKE '%X client%'"))[0].n), 0);
  });
});

describeEachDatabase('the reply command', (database) => {
  let world: ArticlesWorld;
  let recordTweetId: string;

  beforeEach(async () => {
    world = await createArticlesWorld(database, { username: 'kbdesk' });
    await world.world.sql("INSERT INTO articles (title, tweet_text, keep_going) VALUES ('Q', 'Is it out now', 'Yes')");
    await world.world.pollOnce();
    [{ id: recordTweetId }] = await world.world.tweetsBy('kbdesk');
    await world.world.asNewProcess(async (services) => {
      await services.users.create('ada', await hashPassword('a long enough password'), 'admin', toIso(services.clock.now()));
      await services.users.create('vic', await hashPassword('a long enough password'), 'viewer', toIso(services.clock.now()));
    });
  });
  afterEach(async () => world.world.close());

  const reply = (args: string[], input: string) => world.world.cli(['--json', 'reply', '--integration', String(world.integrationId), ...args], {}, input);

  it('queues the text from standard input; the next poll --once posts it and the record keeps it', async () => {
    const queued = await reply(['--record', '1', '--as', 'ada'], 'Out on Monday.\n');
    assert.equal(queued.code, 0, queued.stderr);
    assert.deepEqual(Object.keys(queued.json).sort(), ['id', 'state', 'tweet_id']);
    assert.deepEqual([queued.json.state, queued.json.tweet_id], ['pending', null]);
    const poll = await world.world.cli(['--json', 'poll', '--once']);
    assert.equal(poll.code, 0, poll.stderr);
    const posted = (await world.world.tweetsBy('kbdesk')).filter((tweet) => tweet.id !== recordTweetId);
    assert.deepEqual(posted.map((tweet) => tweet.text), ['Out on Monday.']);
    const [row] = await world.world.sql('SELECT replies FROM articles WHERE id = 1');
    assert.match(row.replies, /\] @kbdesk \(A\.\): Out on Monday\.$/);
  });

  it('is posted at once by a daemon running in another process', async () => {
    // The sweep would take ten minutes: only the database's news of the queued reply can wake it.
    const daemon = world.world.startDaemon(['poll'], { LOG_LEVEL: 'info', KBTS_PUBLISH_SWEEP_MS: '600000' });
    try {
      const deadline = Date.now() + 60_000;
      while (!daemon.logLines.some((line) => line.message === 'scheduler started')) {
        assert.ok(Date.now() < deadline, 'the daemon starts');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const queued = await reply(['--record', '1', '--as', 'ada'], 'On its way.');
      assert.equal(queued.code, 0, queued.stderr);
      while ((await world.world.sql('SELECT state FROM kbts_agent_replies'))[0].state !== 'sent') {
        assert.ok(Date.now() < deadline + 30_000, 'the running daemon posts the reply');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.deepEqual((await world.world.tweetsBy('kbdesk')).map((tweet) => tweet.text), ['Is it out now', 'On its way.']);
    } finally {
      await daemon.stop();
    }
  });

  it('switches the initials and the DM link with integration replies, and the next reply carries them', async () => {
    const switched = await world.world.cli(['--json', 'integration', 'replies', String(world.integrationId), '--initials', 'on', '--dm-link', 'on']);
    assert.equal(switched.code, 0, switched.stderr);
    assert.deepEqual(switched.json, { integration_id: world.integrationId, agent_initials: true, dm_deep_link: true });
    const wrong = await world.world.cli(['--json', 'integration', 'replies', String(world.integrationId), '--initials', 'maybe']);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.json.error, /--initials takes on or off, not 'maybe'/);
    const queued = await reply(['--record', '1', '--as', 'ada'], 'Signed.');
    assert.equal(queued.code, 0, queued.stderr);
    const [row] = await world.world.sql('SELECT text FROM kbts_agent_replies');
    assert.equal(row.text, `Signed. - A. ${dmDeepLink(world.account.id)}`);
  });

  it('refuses bad input with a non-zero exit and the reason, and queues nothing', async () => {
    for (const [args, input, reason] of [
      [['--record', '1', '--as', 'ada'], '   ', /the reply is empty/],
      [['--record', '1', '--as', 'ada', '--to', '999'], 'Hi', /tweet 999 is not part of record 1's conversation/],
      [['--record', '1', '--as', 'ada', '--to', 'abc'], 'Hi', /--to must be a tweet id/],
      [['--record', '1', '--as', 'vic'], 'Hi', /your role \(viewer\) does not allow replying/],
      [['--record', '5', '--as', 'ada'], 'Hi', /record 5 no longer exists/],
      [['--record', '1', '--as', 'ada'], 'y'.repeat(281), /281 of 280 weighted characters/],
    ] as const) {
      const result = await reply([...args], input);
      assert.notEqual(result.code, 0, `${args.join(' ')} fails`);
      assert.match(result.json?.error ?? result.stderr, reason);
    }
    assert.equal(Number((await world.world.sql('SELECT COUNT(*) AS n FROM kbts_agent_replies'))[0].n), 0);
  });
});
