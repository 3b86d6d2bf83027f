import { toIso } from '../../lib/clock';
import { NotFoundError, ValidationError } from '../../lib/errors';
import type { Account } from '../../store/accounts';
import { ChannelStore, type Channel, type DmReply } from '../../store/channels';
import { XDirectMessagesAccessError } from '../../twitter/errors';
import type { XClient } from '../../twitter/x-client';
import { dmConversationId } from '../inbound/channel-dms';
import type { SyncDeps } from '../sync-deps';
import type { AccountStop } from './decide';
import { postExactlyOnce, type OutboundChannel, type OutboundLedger } from './post-once';

// The direct-message kind of outbound item: a reply from a DM-channel record, sent once with
// POST /2/dm_conversations/with/:participant_id/messages; its state kept in kbts_dm_replies, its
// message logged as the channel's entry. The posting rules themselves live in post-once.ts.

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
 * Queues a direct message answering a DM-channel record: to the person whose messages the
 * record holds. It goes out, exactly once, at the account's next run (a reply poll, or the
 * publishing sweep every 30 s). The composer on the record page calls this.
 */
export async function queueDmReply(deps: Pick<SyncDeps, 'db' | 'clock'>, input: QueueDmReplyInput): Promise<DmReply & { created: boolean }> {
  const store = new ChannelStore(deps.db);
  const channel = await store.get(input.channelId);
  if (!channel) throw new NotFoundError(`channel ${input.channelId} does not exist`);
  if (channel.kind !== 'dms') throw new ValidationError(`channel ${channel.id} is a ${channel.kind} channel; a direct message answers a record of a direct-messages channel`, 'channelId');
  const text = input.text.trim();
  if (text === '') throw new ValidationError('write the text of the message', 'text');
  if (text.length > MAX_DM_TEXT) throw new ValidationError(`a direct message holds at most ${MAX_DM_TEXT} characters; this one has ${text.length}`, 'text');
  const person = (await store.listEntries(channel.id, { recordKey: input.recordKey })).find((entry) => entry.direction === 'in' && entry.personId);
  if (!person) throw new NotFoundError(`record '${input.recordKey}' of table '${channel.tableName}' holds no direct message of channel ${channel.id}, so there is nobody to answer`);
  if (input.requestKey && input.requestKey.length > 200) throw new ValidationError('the form\'s key is longer than 200 characters', 'reply_key');
  const { id, created } = await store.queueDmReply({
    channelId: channel.id, recordKey: input.recordKey, participantId: person.personId as string, text, requestedBy: input.requestedBy, requestKey: input.requestKey,
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
    const dmChannel: OutboundChannel = {
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
            channelId: channel.id, source: 'dm', xId: id, direction: 'out', parentId: null, personId: reply.participantId,
            authorUsername: account.screenName, text: reply.text, xCreatedAt: null, recordKey: reply.recordKey, applied: true, dmReplyId: reply.id,
          }], now);
          // A crash after the send may have let the poll log it as sent from an X client: it is this reply's.
          await logged.claimEntryForReply('dm', id, reply.id, reply.recordKey);
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
        parts: [reply.text], replyTo: null, posted: reply.dmEventId ? [reply.dmEventId] : [], outcomeWasUnknown: reply.state === 'sending',
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
