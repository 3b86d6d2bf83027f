import assert from 'node:assert/strict';
import type { Services } from '../../src/app';
import { addChannel, resumeChannel } from '../../src/channels/channel-setup';
import { channelReplyTarget } from '../../src/channels/reply-target';
import { ChannelStore, type Channel } from '../../src/store/channels';
import { queueDmReply } from '../../src/sync/outbound/direct-messages';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { createArticlesWorld, describeEachDatabase, type EmulatorUser, type TestEnv } from '../support/test-env';
import { startProduct, until, type Product } from '../support/webhook-product';

/* eslint-disable @typescript-eslint/no-explicit-any */

const ticketsTable = (world: TestEnv) => `CREATE TABLE tickets (
  id ${world.autoId},
  body TEXT,
  author VARCHAR(100),
  link VARCHAR(300),
  tag VARCHAR(40),
  conversation TEXT,
  still_open VARCHAR(10)
)`;

function channelInput(accountId: number, kind: 'mentions' | 'dms') {
  return {
    accountId, kind, table: 'tickets', textField: 'body', authorField: 'author', linkField: 'link', tagField: 'tag',
    responseField: 'conversation', mode: 'append', continueField: 'still_open',
  };
}

describeEachDatabase('inbound channels: mentions and direct messages become records', (database) => {
  let world: TestEnv;
  let account: EmulatorUser;
  let accountId: number;
  let services: Services;

  beforeEach(async () => {
    ({ world, account, accountId } = await createArticlesWorld(database));
    await world.sql(ticketsTable(world));
    services = await world.services();
  });
  afterEach(async () => {
    await world.close();
  });

  const setup = () => ({ db: services.db, accounts: services.accounts, integrations: services.integrations, clock: services.clock });
  const poll = () => runPollCycle(services.sync);
  const tickets = () => world.sql('SELECT * FROM tickets ORDER BY id');
  const entries = async (channel: Channel) => new ChannelStore(services.db).listEntries(channel.id);
  const dm = (as: string, text: string, extra: Record<string, unknown> = {}) => world.control('POST', '/dms', { as, to: account.username, text, ...extra });
  const mention = (as: string, text: string, extra: Record<string, unknown> = {}) => world.control('POST', '/mentions', { as, of: account.username, text, ...extra });

  describe('mentions', () => {
    let channel: Channel;
    beforeEach(async () => {
      channel = (await addChannel(setup(), channelInput(accountId, 'mentions'))).channel;
    });

    it('each new mention opens one record (text, @author, link, tag); replies under it are written into it; a reply under our answer opens a new record', async () => {
      const first = await mention('alice', 'my order never arrived');
      await poll();
      let rows = await tickets();
      assert.equal(rows.length, 1);
      assert.equal(rows[0].body, `@${account.username} my order never arrived`);
      assert.equal(rows[0].author, '@alice');
      assert.equal(rows[0].link, `https://x.com/alice/status/${first.id}`);
      assert.equal(rows[0].tag, 'Twitter: Mention');
      assert.equal(rows[0].conversation, null);

      // Alice answers under her first entry: the same record.
      const under = await world.replyAs('alice', first.id, `@${account.username} order 1234`);
      // The account answers her (from an X client here; from the record with issue 12): a reply under it is a new ticket.
      const ours = await world.control('POST', '/tweets', { as: account.username, text: 'Sorry! Which order?', in_reply_to_tweet_id: first.id });
      const underOurs = await world.replyAs('alice', ours.id, `@${account.username} still waiting`);
      await poll();
      rows = await tickets();
      assert.equal(rows.length, 2, JSON.stringify(rows));
      assert.match(rows[0].conversation, /@alice: order 1234$/);
      assert.equal(rows[1].author, '@alice');
      assert.match(rows[1].body, /still waiting/);
      // The composer answers a mentions record publicly, under the person's latest post in it.
      assert.deepEqual(await channelReplyTarget(services.db, 'tickets', String(rows[0].id)), { kind: 'mention', channelId: channel.id, inReplyToTweetId: under.id });
      assert.equal(await channelReplyTarget(services.db, 'articles', '1'), null);
      const logged = await entries(channel);
      assert.deepEqual(logged.map((entry) => [entry.xId, entry.recordKey]).sort((a, b) => (BigInt(a[0]!) < BigInt(b[0]!) ? -1 : 1)), [
        [first.id, String(rows[0].id)], [under.id, String(rows[0].id)], [underOurs.id, String(rows[1].id)],
      ]);

      // Polling again writes nothing twice.
      await poll();
      assert.equal((await tickets()).length, 2);
      assert.equal((await tickets())[0].conversation.split('order 1234').length, 2);
    });

    it('a reply in a KB conversation stays the integration\'s; a mention deleted before it is read leaves nothing; the default without a channel is no record', async () => {
      await world.sql('INSERT INTO articles (title, tweet_text, keep_going) VALUES (?, ?, ?)', ['one', 'What do you think?', 'Yes']);
      await poll();
      const root = (await world.tweetsBy(account.username))[0];
      await world.replyAs('bob', root.id, 'Great article');
      const deleted = await mention('carol', 'oops, wrong account');
      await world.control('POST', '/tweets', { as: 'dave', text: 'hello @nobody_here' });
      const deletedOnX = await fetchDelete(world, deleted.id);
      assert.ok(deletedOnX);
      await poll();
      assert.equal((await tickets()).length, 0);
      assert.match((await world.sql('SELECT replies FROM articles'))[0].replies, /@bob: Great article/);

      // Removed, the channel is gone and mentions make no records again.
      await new ChannelStore(services.db).remove(channel.id);
      await mention('erin', 'anyone there?');
      await poll();
      assert.equal((await tickets()).length, 0);
    });

    it('through webhook events: the mention becomes a record at once, and the backstop read does not repeat it', async () => {
      await services.close();
      const product: Product = await startProduct(world);
      try {
        await product.services.webhooks.enable(accountId);
        const m = await mention('alice', 'pushed by webhook');
        await until('the record', async () => {
          await product.services.webhooks.channels.idle();
          return (await tickets()).length === 1;
        });
        await product.services.sync.accountWebhooks!.update(accountId, { lastBackstopAt: null }, new Date().toISOString());
        await runPollCycle(product.services.sync);
        const rows = await tickets();
        assert.equal(rows.length, 1);
        assert.equal(rows[0].link, `https://x.com/alice/status/${m.id}`);
      } finally {
        await product.close();
      }
    });
  });

  describe('direct messages', () => {
    let channel: Channel;
    beforeEach(async () => {
      channel = (await addChannel(setup(), channelInput(accountId, 'dms'))).channel;
    });

    it('one record per person while its Yes/No field says Yes; a new one after No, and after the record is deleted', async () => {
      await dm('alice', 'Hello, I need help');
      await dm('alice', 'It is about my invoice');
      await dm('bob', 'Hi from Bob');
      await poll();
      let rows = await tickets();
      assert.equal(rows.length, 2);
      const alice = rows.find((row) => row.author === '@alice')!;
      assert.equal(alice.body, 'Hello, I need help');
      assert.equal(alice.tag, 'Twitter: Direct');
      assert.equal(alice.still_open, 'Yes');
      assert.match(alice.link, /^https:\/\/x\.com\/messages\/\d+-\d+$/);
      assert.deepEqual(alice.conversation.split('\n').map((line: string) => line.replace(/^\[[^\]]+\] /, '')), ['@alice: Hello, I need help', '@alice: It is about my invoice']);

      await world.sql('UPDATE tickets SET still_open = ? WHERE id = ?', ['No', alice.id]);
      await dm('alice', 'One more question');
      await poll();
      rows = await tickets();
      assert.equal(rows.length, 3);
      assert.equal(rows[2].author, '@alice');
      assert.equal(rows[2].body, 'One more question');
      assert.doesNotMatch(rows.find((row) => row.id === alice.id)!.conversation, /One more question/);

      await world.sql('DELETE FROM tickets WHERE id = ?', [rows[2].id]);
      await dm('alice', 'Are you there?');
      await poll();
      rows = await tickets();
      assert.equal(rows.length, 3);
      assert.equal(rows[2].body, 'Are you there?');
    });

    it('a media-only DM, a 10,000-character DM and a DM the account sent from an X client: each said in words, nothing lost', async () => {
      await dm('alice', '', { media: true });
      const long = 'x'.repeat(10_000);
      await dm('bob', long);
      const fromClient = await world.control('POST', '/dms', { as: account.username, to: 'alice', text: 'typed on my phone' });
      await poll();
      const rows = await tickets();
      assert.equal(rows.length, 2);
      assert.match(rows[0].body, /photo or video without text/);
      assert.equal(rows[1].body, long, 'a TEXT column keeps all of it');
      assert.match(rows[1].conversation, new RegExp(`@bob: x{10000}$`));
      const logged = (await entries(channel)).find((entry) => entry.xId === fromClient.id)!;
      assert.equal(logged.direction, 'out');
      assert.equal(logged.applied, false);
      assert.match(logged.notAppliedReason!, /sent by the account from an X client/);
      assert.doesNotMatch(rows[0].conversation, /typed on my phone/);
    });

    it('a reply from the record is sent as a DM exactly once, even when X\'s answer is lost', async () => {
      await dm('alice', 'Can you help?');
      await poll();
      const record = String((await tickets())[0].id);
      const target = await channelReplyTarget(services.db, 'tickets', record);
      assert.equal(target?.kind, 'dm');
      await queueDmReply(services.sync, { channelId: channel.id, recordKey: record, text: 'Of course, tell me more', requestedBy: 'test' });
      await world.control('POST', '/faults', { rules: [{ endpoint: 'POST /2/dm_conversations/with/:id/messages', kind: 'lost_response' }] });
      await poll();
      await poll();
      const sent = (await world.control('GET', `/dms?user=${account.username}`)).dms.filter((m: any) => m.sender_username === account.username);
      assert.deepEqual(sent.map((m: any) => m.text), ['Of course, tell me more']);
      const [reply] = await new ChannelStore(services.db).listDmReplies(channel.id);
      assert.equal(reply.state, 'sent');
      assert.equal(reply.dmEventId, sent[0].id);
      const out = (await entries(channel)).filter((entry) => entry.direction === 'out');
      assert.deepEqual(out.map((entry) => [entry.xId, entry.dmReplyId, entry.applied]), [[sent[0].id, reply.id, true]]);
      await assert.rejects(queueDmReply(services.sync, { channelId: channel.id, recordKey: '999', text: 'x', requestedBy: 'test' }), /holds no direct message/);
    });

    it('the X app without the DM permission: "the X app\'s permissions do not include Direct Messages", the channel paused, the integration not', async () => {
      await world.control('POST', `/users/${account.username}/direct-messages`, { allowed: false });
      await dm('alice', 'hello?');
      await poll();
      const paused = (await new ChannelStore(services.db).get(channel.id))!;
      assert.equal(paused.status, 'paused');
      assert.match(paused.pausedReason!, /the X app's permissions do not include Direct Messages/);
      assert.equal((await services.integrations.list())[0].status, 'active');
      assert.equal((await tickets()).length, 0);

      await world.control('POST', `/users/${account.username}/direct-messages`, { allowed: true });
      await resumeChannel(setup(), channel.id);
      await poll();
      assert.equal((await tickets()).length, 1, 'the message waited at X and is read after the resume');
    });

    it('the channel\'s table dropped or a field renamed: the channel paused with the reason, the message kept and placed after the resume', async () => {
      await world.sql('ALTER TABLE tickets RENAME COLUMN author TO who');
      await dm('alice', 'anyone?');
      await poll();
      const paused = (await new ChannelStore(services.db).get(channel.id))!;
      assert.equal(paused.status, 'paused');
      assert.match(paused.pausedReason!, /the author field 'author' no longer exists in table 'tickets'/);
      const [held] = await entries(channel);
      assert.equal(held.held, true);
      await assert.rejects(resumeChannel(setup(), channel.id), /is not resumed: the author field 'author' no longer exists/);
      await world.sql('ALTER TABLE tickets RENAME COLUMN who TO author');
      await resumeChannel(setup(), channel.id);
      await poll();
      const rows = await tickets();
      assert.equal(rows.length, 1);
      assert.equal(rows[0].body, 'anyone?');

      await world.sql('DROP TABLE tickets');
      await dm('alice', 'after the drop');
      await poll();
      assert.match((await new ChannelStore(services.db).get(channel.id))!.pausedReason!, /table 'tickets' no longer exists/);
    });

    it('through webhook events: dm.received places the message at once; the same DM read by the poll is written once', async () => {
      await services.close();
      const product: Product = await startProduct(world);
      try {
        const status = await product.services.webhooks.enable(accountId);
        assert.ok(status.subscriptions.some((sub) => sub.event_type === 'dm.received'));
        await dm('alice', 'pushed to you');
        await until('the record', async () => {
          await product.services.webhooks.channels.idle();
          return (await tickets()).length === 1;
        });
        await runPollCycle(product.services.sync);
        const rows = await tickets();
        assert.equal(rows.length, 1);
        assert.equal(rows[0].conversation.split('pushed to you').length, 2);
        // With the webhook on, the DM read is a backstop at the account's interval: the next poll does not read.
        const reads = async () => (await world.control('GET', '/calls')).by_endpoint['GET /2/dm_events'] ?? 0;
        const before = await reads();
        await runPollCycle(product.services.sync);
        assert.equal(await reads(), before);
      } finally {
        await product.close();
      }
    });
  });
});

/** Deletes a tweet as its author would on X (the emulator's own state, by id). */
async function fetchDelete(world: TestEnv, id: string): Promise<boolean> {
  const res = await fetch(`${world.emulator.url}/_emulator/tweets/${id}`, { method: 'DELETE' });
  return res.ok;
}
