import { toIso } from '../../lib/clock';
import type { Account } from '../../store/accounts';
import { ChannelStore, type Channel, type NewChannelEntry } from '../../store/channels';
import { XIncompleteReadError } from '../../twitter/errors';
import { maxTweetId } from '../../twitter/snowflake';
import type { XClient, XDmEvent } from '../../twitter/x-client';
import type { SyncDeps } from '../sync-deps';
import { isOpen, MEDIA_ONLY_TEXT, placeChannelEntries, type ChannelRules, type PlaceCounts } from './channel-ingest';
import { CHANNEL_START_SLACK_MS } from './channel-mentions';

/**
 * The direct-messages channel: all messages from one person go into one record while its Yes/No
 * field says Yes (or is blank); once it says No, or the record is gone, that person's next
 * message opens a new record. Each message is an entry of the response field. Messages the
 * account sent from an X client are logged, never written as the person's.
 */

export const SENT_FROM_X_CLIENT = 'sent by the account from an X client (not from a record): logged, not written as the person\'s message';

/** X's id of a one-to-one conversation: the two user ids, smaller first, joined by a dash. */
export function dmConversationId(a: string, b: string): string {
  return BigInt(a) < BigInt(b) ? `${a}-${b}` : `${b}-${a}`;
}

/** The other person of a one-to-one conversation id ("smaller-larger"). */
function otherParticipant(conversationId: string | null, accountUserId: string): string | null {
  const ids = (conversationId ?? '').split('-');
  return ids.length === 2 ? ids.find((id) => id !== accountUserId) ?? null : null;
}

/** A DM event (from the poll or a webhook) as a channel entry. */
export function dmEntry(channel: Channel, account: Account, event: XDmEvent & { recipientId?: string | null }): NewChannelEntry {
  const ours = event.senderId === account.xUserId;
  const personId = ours ? event.recipientId ?? otherParticipant(event.conversationId, account.xUserId as string) : event.senderId;
  return {
    channelId: channel.id, source: 'dm', xId: event.id, direction: ours ? 'out' : 'in', parentId: null, personId,
    authorUsername: event.senderUsername, text: event.text || (event.mediaKeys.length > 0 ? MEDIA_ONLY_TEXT : ''), xCreatedAt: event.createdAt,
  };
}

export function dmRules(channel: Channel, accountUserId: string): ChannelRules {
  return {
    firstEntryInResponse: true,
    linkOf: (entry) => `https://x.com/messages/${entry.personId ? dmConversationId(accountUserId, entry.personId) : ''}`,
    placementOf: async (trx, entry) => {
      if (entry.direction === 'out') return { logOnly: SENT_FROM_X_CLIENT };
      const last = entry.personId ? await new ChannelStore(trx).lastRecordOf(channel.id, entry.personId) : null;
      if (last && await isOpen(trx, channel, last)) return { open: false, recordKey: last };
      return { open: true };
    },
  };
}

/** DM events from the webhook (dm.received): placed like polled ones, each once. */
export async function ingestDmEvents(deps: SyncDeps, account: Account, events: Array<XDmEvent & { recipientId?: string | null }>): Promise<PlaceCounts | null> {
  const channel = await new ChannelStore(deps.db).findForAccount(account.id, 'dms');
  if (!channel || events.length === 0) return null;
  const startMs = Date.parse(channel.startedAt) - CHANNEL_START_SLACK_MS;
  const fresh = events.filter((event) => !event.createdAt || Date.parse(event.createdAt) >= startMs);
  return placeChannelEntries(deps, channel, fresh.map((event) => dmEntry(channel, account, event)), dmRules(channel, account.xUserId as string));
}

/**
 * The poll's read of direct messages: GET /2/dm_events from the newest page down to the
 * channel's cursor (X keeps 30 days), placed, then the cursor moves — only after a read that
 * finished, so the pages a cut-short read missed are read next time.
 */
export async function pollDirectMessages(deps: SyncDeps, account: Account, channel: Channel, x: XClient): Promise<PlaceCounts> {
  const notBefore = new Date(Date.parse(channel.startedAt) - CHANNEL_START_SLACK_MS).toISOString();
  let events: XDmEvent[];
  let finished = true;
  try {
    events = await x.dmEventsSince(channel.dmCursorId, notBefore);
  } catch (error) {
    if (!(error instanceof XIncompleteReadError)) throw error;
    deps.logger.warn('read of direct messages stopped before its end', { channelId: channel.id, reason: error.message });
    events = error.partial as XDmEvent[];
    finished = false;
  }
  const counts = await placeChannelEntries(deps, channel, events.map((event) => dmEntry(channel, account, event)), dmRules(channel, account.xUserId as string));
  const newest = maxTweetId(events.map((event) => event.id));
  if (finished) await new ChannelStore(deps.db).setDmCursor(channel.id, newest, toIso(deps.clock.now()));
  return counts;
}

/** A `dm.received` delivery (legacy shape: direct_message_events[], users) read into events, or why not. */
export function parseDmReceived(payload: unknown): Array<XDmEvent & { recipientId: string | null }> | { invalid: string } {
  const body = payload as { direct_message_events?: unknown; users?: Record<string, { screen_name?: unknown }> } | null;
  if (!body || !Array.isArray(body.direct_message_events)) return { invalid: 'data.payload.direct_message_events is missing' };
  const out: Array<XDmEvent & { recipientId: string | null }> = [];
  for (const raw of body.direct_message_events as Array<Record<string, any>>) {
    if (raw?.type !== 'message_create' || typeof raw.id !== 'string' || !/^[0-9]{1,19}$/.test(raw.id)) continue;
    const create = raw.message_create ?? {};
    const senderId = typeof create.sender_id === 'string' ? create.sender_id : null;
    const recipientId = typeof create.target?.recipient_id === 'string' ? create.target.recipient_id : null;
    const mediaKey = create.message_data?.attachment?.media?.media_key;
    const ms = Number(raw.created_timestamp);
    const username = senderId ? body.users?.[senderId]?.screen_name : undefined;
    out.push({
      id: raw.id, text: typeof create.message_data?.text === 'string' ? create.message_data.text : '', senderId, recipientId,
      senderUsername: typeof username === 'string' ? username : null,
      conversationId: senderId && recipientId ? dmConversationId(senderId, recipientId) : null,
      createdAt: Number.isFinite(ms) ? new Date(ms).toISOString() : null, mediaKeys: typeof mediaKey === 'string' ? [mediaKey] : [],
    });
  }
  return out;
}
