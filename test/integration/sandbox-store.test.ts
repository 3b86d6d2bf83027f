import assert from 'node:assert/strict';
import { EmulatorState } from '../../src/emulator/emulator';
import { restoreSandboxUsers } from '../../src/setup/sandbox-setup';
import { SandboxStore } from '../../src/store/sandbox';
import { describeEachDatabase, TestEnv } from '../support/test-env';
import { WebWorld } from '../support/web-world';

describeEachDatabase('the sandbox kept in the database (SandboxStore)', (database) => {
  let world: TestEnv;

  beforeEach(async function () {
    this.timeout(30_000);
    world = await TestEnv.create(database);
  });

  afterEach(async () => {
    await world?.close();
  });

  async function keptSandbox(): Promise<EmulatorState> {
    const services = await world.services();
    const state = new EmulatorState();
    const keeper = new SandboxStore(services.db);
    state.restore(await keeper.load());
    state.keepChangesWith(keeper);
    return state;
  }

  it('gives back users, tweets, replies, hidden and deleted tweets and the id sequence, and no keys', async () => {
    const first = await keptSandbox();
    const desk = first.createUser({ username: 'kb_desk' });
    const tweet = first.createTweet(desk.id, 'Kept across restarts');
    const reply = first.postAs({ as: 'alice', text: 'A reply', in_reply_to_tweet_id: tweet.id });
    const late = first.postAs({ as: 'bob', text: 'Shown later', in_reply_to_tweet_id: tweet.id, hidden: true });
    const gone = first.postAs({ as: 'bob', text: 'Deleted', in_reply_to_tweet_id: tweet.id });
    first.deleteTweet(gone.id);
    first.revokeUser('bob');
    await first.changesStored();

    const rows = await world.sql('SELECT * FROM kbts_sandbox_users');
    assert.ok(rows.every((row) => !JSON.stringify(row).includes(desk.credentials.access_token_secret)), 'no key is stored');

    const second = await keptSandbox();
    assert.deepEqual(second.listUsers().map((u) => [u.id, u.username, u.revoked, u.has_credentials]),
      [[desk.id, 'kb_desk', false, false], [second.findUser('alice')?.id, 'alice', false, false], [second.findUser('bob')?.id, 'bob', true, false]]);
    assert.deepEqual(second.listTweets(), first.listTweets(), 'the same tweets, ids, times and threads');
    assert.equal(second.getTweet(gone.id), undefined, 'a deleted tweet stays deleted');
    assert.equal(second.getTweetRecord(late.id)?.hidden, true);
    assert.deepEqual(second.timeline('kb_desk').tweets[0].replies.map((r) => r.id), [reply.id, late.id]);
    assert.deepEqual(second.mentionsOf('kb_desk').map((t) => t.id), first.mentionsOf('kb_desk').map((t) => t.id), 'the mention index is rebuilt');

    const next = second.createTweet(desk.id, 'After the restart');
    assert.ok(BigInt(next.id) > BigInt(gone.id), 'no id is handed out twice, even a deleted tweet\'s');
    second.attachCredentials(desk.id, desk.credentials);
    assert.equal(second.userForToken(desk.credentials.access_token)?.id, desk.id, 'the account\'s keys reach the same user again');
  });

  it('gives back the media attached to tweets: their types, keys and addresses', async () => {
    const first = await keptSandbox();
    const desk = first.createUser({ username: 'kb_desk' });
    const tweet = first.createTweet(desk.id, 'Two photos', { media: first.media.madeUp([{ type: 'photo' }, { type: 'photo' }]) });
    const reply = first.postAs({ as: 'alice', text: 'A clip back', in_reply_to_tweet_id: tweet.id, media: [{ type: 'video' }] });
    const plain = first.createTweet(desk.id, 'No media');
    await first.changesStored();

    const second = await keptSandbox();
    assert.deepEqual(second.getTweetRecord(tweet.id)?.media, first.getTweetRecord(tweet.id)?.media);
    assert.deepEqual(second.getTweetRecord(tweet.id)?.media?.map((item) => item.type), ['photo', 'photo']);
    assert.match(second.getTweetRecord(tweet.id)?.media?.[0].url ?? '', /^https:\/\/pbs\.twimg\.com\/media\/3_\d+\.jpg$/);
    assert.deepEqual(second.getTweetRecord(reply.id)?.media, first.getTweetRecord(reply.id)?.media);
    assert.equal(second.getTweetRecord(plain.id)?.media, undefined);
    assert.deepEqual(second.listTweets(), first.listTweets(), 'the tweets as the sandbox page shows them, media included');
  });

  it('answers a failed write with a rejection and writes the change again with the next one', async () => {
    const services = await world.services();
    const state = new EmulatorState();
    const keeper = new SandboxStore(services.db);
    state.keepChangesWith(keeper);
    const desk = state.createUser({ username: 'kb_desk' });
    await state.changesStored();
    await world.sql('ALTER TABLE kbts_sandbox_tweets RENAME TO kbts_sandbox_tweets_away');
    const tweet = state.createTweet(desk.id, 'Written on the second try');
    await assert.rejects(state.changesStored() as Promise<void>);
    await world.sql('ALTER TABLE kbts_sandbox_tweets_away RENAME TO kbts_sandbox_tweets');
    await state.changesStored();
    const kept = await keeper.load();
    assert.deepEqual(kept.tweets.map((t) => t.id), [tweet.id]);
  });

  it('gives an account stored before the sandbox was kept its user again, with the same user id and keys', async function () {
    this.timeout(30_000);
    const web = await WebWorld.create({ database });
    try {
      const { accountId, credentials } = await web.withSandboxIntegration({ username: 'kb_upgraded' });
      const account = await web.services.accounts.get(accountId);
      const fresh = new EmulatorState();
      assert.deepEqual(await restoreSandboxUsers(web.services, fresh), [accountId]);
      assert.equal(fresh.findUser('kb_upgraded')?.id, account?.xUserId);
      assert.equal(fresh.userForToken(credentials.accessToken)?.id, account?.xUserId);
      assert.ok(BigInt(fresh.createTweet(account?.xUserId as string, 'next').id) > BigInt(account?.xUserId as string), 'new ids come after it');
    } finally {
      await web.close();
    }
  });
});
