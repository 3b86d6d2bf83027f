import { toIso } from '../../lib/clock';
import { NotFoundError, ValidationError } from '../../lib/errors';
import type { Account } from '../../store/accounts';
import { ChannelStore, type Channel, type DmReply } from '../../store/channels';
import { XDirectMessagesAccessError } from '../../twitter/errors';
import { MAX_TWEET_WEIGHT, weightedLength } from '../../twitter/weighted-length';
import type { XClient } from '../../twitter/x-client';
import { dmConversationId } from '../inbound/channel-dms';
import type { SyncDeps } from '../sync-deps';
import type { AccountStop } from './decide';
import { postExactlyOnce, type OutboundChannel, type OutboundLedger } from './post-once';
import { tweetChannel } from './record-tweets';

// The channel-reply kind of outbound item: a reply from a channel's record, sent once. From a
// DM-channel record it is a direct message (POST /2/dm_conversations/with/:participant_id/messages);
// from a mentions-channel record, a public post under the person's latest post in the record
// (POST /2/tweets). Its state is kept in kbts_dm_replies, what was sent logged as the channel's
// entry. The posting rules themselves live in post-once.ts.

// X's limit on a direct message's text.
export const MAX_DM_TEXT = 10_000;

export interface QueueDmReplyInput {
  channelId: number;
  recordKey: string;
  text: string;
  /** Who asked (a username, "command line"), for the record page and the log. */
  requestedBy: string | null;
  /** The record page's form key: the same form sent twice queues one message. */
  requestKey?: string | null;
}

/**
 * Queues a reply from a channel's record: a direct message to the person whose messages a
 * DM-channel record holds, or a public post under the person's latest post in a mentions-channel
 * record. It goes out, exactly once, at the account's next run (a reply poll, or the publishing
 * sweep every 30 s). The record page's box and `channel reply` call this.
 */
export async function queueDmReply(deps: Pick<SyncDeps, 'db' | 'clock'>, input: QueueDmReplyInput): Promise<DmReply & { created: boolean }> {
  const store = new ChannelStore(deps.db);
  const channel = await store.get(input.channelId);
  if (!channel) throw new NotFoundError(`channel ${input.channelId} does not exist`);
  const text = input.text.trim();
  if (text === '') throw new ValidationError('write the text of the message', 'text');
  if (text.includes('\u0000')) throw new ValidationError('the text holds a NUL character', 'text');
  if (channel.kind === 'dms' && text.length > MAX_DM_TEXT) throw new ValidationError(`a direct message holds at most ${MAX_DM_TEXT} characters; this one has ${text.length}`, 'text');
  const weight = weightedLength(text);
  if (channel.kind === 'mentions' && weight > MAX_TWEET_WEIGHT) {
    throw new ValidationError(`a public reply holds at most ${MAX_TWEET_WEIGHT} weighted characters; this one has ${weight}, shorten it by ${weight - MAX_TWEET_WEIGHT}`, 'text');
  }
  const latest = (await store.listEntries(channel.id, { recordKey: input.recordKey })).filter((entry) => entry.direction === 'in' && entry.personId).pop();
  if (!latest) {
    throw new NotFoundError(`record '${input.recordKey}' of table '${channel.tableName}' holds no ${channel.kind === 'dms' ? 'direct message' : 'mention'} of channel ${channel.id}, so there is nobody to answer`);
  }
  if (input.requestKey && input.requestKey.length > 200) throw new ValidationError('the form\'s key is longer than 200 characters', 'reply_key');
  const { id, created } = await store.queueDmReply({
    channelId: channel.id, recordKey: input.recordKey, participantId: latest.personId as string, inReplyToTweetId: channel.kind === 'mentions' ? latest.xId : null,
    text, requestedBy: input.requestedBy, requestKey: input.requestKey,
  }, toIso(deps.clock.now()));
  return { ...(await store.getDmReply(id)) as DmReply, created };
}

export interface DmSendOutcome {
  sent: number;
  /** X refused the account itself (401, 402): its work pauses. */
  stop: AccountStop | null;
}

/**
 * Sends the channel's due direct messages: pending|sending → sending (committed before the call)
 * → sent | failed, through postExactlyOnce. A lost answer is reconciled against the account's
 * sent DM events in that conversation. The app lacking the DM permission pauses this channel
 * only (the reply waits, pending); other refusals of the account stop its work.
 */
export async function sendDueDmReplies(deps: SyncDeps, account: Account, channel: Channel, x: XClient): Promise<DmSendOutcome> {
  const store = new ChannelStore(deps.db);
  const outcome: DmSendOutcome = { sent: 0, stop: null };
  for (const reply of await store.dueDmReplies(channel.id, toIso(deps.clock.now()))) {
    const attemptAt = toIso(deps.clock.now());
    if (!(await store.beginDmAttempt(reply, attemptAt))) continue; // another worker moved it
    let permission: XDirectMessagesAccessError | null = null;
    const source = channel.kind === 'dms' ? 'dm' as const : 'mention' as const;
    const dmChannel: OutboundChannel = channel.kind === 'mentions' ? tweetChannel(account, x) : {
      send: async (text) => {
        try {
          return await x.sendDirectMessage(reply.participantId, text);
        } catch (error) {
          if (error instanceof XDirectMessagesAccessError) permission = error;
          throw error;
        }
      },
      ownPostsSince: async (since) => {
        const conversation = dmConversationId(account.xUserId as string, reply.participantId);
        return (await x.dmEventsSince(null, since))
          .filter((event) => event.senderId === account.xUserId && (event.conversationId === null || event.conversationId === conversation))
          .map((event) => ({ id: event.id, text: event.text, inReplyToId: null }));
      },
    };
    let postedId: string | null = null;
    const ledger: OutboundLedger = {
      posted: (_index, id) => { postedId = id; },
      flush: async () => {
        if (postedId === null) return;
        const id = postedId;
        await deps.db.transaction(async (trx) => {
          const logged = new ChannelStore(trx);
          const now = toIso(deps.clock.now());
          await logged.insertNew([{
            channelId: channel.id, source, xId: id, direction: 'out', parentId: reply.inReplyToTweetId, personId: reply.participantId,
            authorUsername: account.screenName, text: reply.text, xCreatedAt: null, recordKey: reply.recordKey, applied: true, dmReplyId: reply.id,
          }], now);
          // A crash after the send may have let the poll log it as sent from an X client: it is this reply's.
          await logged.claimEntryForReply(source, id, reply.id, reply.recordKey);
          await logged.settleDmReply(reply.id, { state: 'sent', dmEventId: id, reason: null, nextAttemptAt: null }, now);
        });
      },
      // Only messages a reply owns are taken: one logged as "from an X client" may be this reply's, found again.
      alreadyLogged: (ids) => store.dmEventsOfReplies(ids),
      settle: async ({ state, nextAttemptAt, reason }) => {
        await store.settleDmReply(reply.id, { state, nextAttemptAt, reason }, toIso(deps.clock.now()));
      },
    };
    const result = await postExactlyOnce(
      {
        parts: [reply.text], replyTo: reply.inReplyToTweetId, posted: reply.dmEventId ? [reply.dmEventId] : [], outcomeWasUnknown: reply.state === 'sending',
        startedAt: reply.attemptStartedAt ?? attemptAt, unknownSince: reply.state === 'sending' ? reply.updatedAt : null,
      },
      dmChannel, ledger, deps.clock,
      { retryBaseMs: deps.settings.retryBaseMs, maxAttemptsPerCycle: deps.settings.maxPostAttemptsPerCycle, reconcileGraceMs: deps.settings.reconcileGraceSeconds * 1000 },
    );
    if (result === 'sent') {
      await ledger.flush();
      outcome.sent++;
      continue;
    }
    if (typeof result === 'object') {
      if (permission) {
        await store.pause(channel.id, (permission as XDirectMessagesAccessError).message, toIso(deps.clock.now()));
        deps.logger.warn('channel paused: the X app may not send direct messages', { channelId: channel.id });
        return outcome;
      }
      outcome.stop = result;
      return outcome;
    }
  }
  return outcome;
}
