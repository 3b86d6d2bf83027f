import type { Knex } from 'knex';
import { ChannelStore } from '../store/channels';

/** How a reply from a channel's record reaches the person: a DM, or a public reply under their latest post. */
export type ChannelReplyTarget =
  | { kind: 'dm'; channelId: number; participantId: string }
  | { kind: 'mention'; channelId: number; inReplyToTweetId: string };

/**
 * For the record page's composer: whether a record of this table belongs to a channel, and what
 * a reply from it answers. A DM-channel record answers by direct message (queueDmReply); a
 * mentions-channel record answers publicly under the person's latest entry in it. Null: the
 * record is no channel's.
 */
export async function channelReplyTarget(db: Knex, tableName: string, recordKey: string): Promise<ChannelReplyTarget | null> {
  const store = new ChannelStore(db);
  for (const channel of (await store.list()).filter((candidate) => candidate.tableName === tableName)) {
    const latest = (await store.listEntries(channel.id, { recordKey })).filter((entry) => entry.direction === 'in' && entry.personId).pop();
    if (!latest) continue;
    return channel.kind === 'dms'
      ? { kind: 'dm', channelId: channel.id, participantId: latest.personId as string }
      : { kind: 'mention', channelId: channel.id, inReplyToTweetId: latest.xId };
  }
  return null;
}
