import type { Account } from '../../store/accounts';
import { ChannelStore, type ChannelEntry, type NewChannelEntry } from '../../store/channels';
import { tweetIdAtMs, tweetIdTimeMs } from '../../twitter/snowflake';
import type { XTweet } from '../../twitter/x-client';
import type { SyncDeps } from '../sync-deps';
import { matchToConversations } from './ingest';
import { placeChannelEntries, recordExists, type ChannelRules, type PlaceCounts } from './channel-ingest';

// A mention a little older than the channel (clocks differ) still counts; nothing much older does.
export const CHANNEL_START_SLACK_MS = 60_000;

/**
 * The mentions channel: each new mention of the account that is not a reply in a KB
 * conversation opens a record; a reply under a person's entry (the mention, or a reply already
 * written into its record) is written into that record. A reply under a post of ours — the
 * account's answer — opens a new record: "If the user responds to a post written in response
 * to theirs, a new ticket will be created". Fed by the mentions read the poll already makes and
 * by webhook events; the log's uniqueness by tweet id places each tweet once whichever came first.
 */
export async function ingestMentionsChannel(deps: SyncDeps, account: Account, tweets: XTweet[]): Promise<PlaceCounts | null> {
  const channel = await new ChannelStore(deps.db).findForAccount(account.id, 'mentions');
  if (!channel || tweets.length === 0) return null;
  const startMs = Date.parse(channel.startedAt) - CHANNEL_START_SLACK_MS;
  const candidates = tweets.filter((tweet) => tweet.authorId !== account.xUserId && tweetIdTimeMs(tweet.id) >= startMs);
  // Replies in the KB's own conversations are the integration's (written into the tweeted record).
  const inKbConversations = new Set((await matchToConversations(deps, account, candidates, await deps.integrations.listForAccount(account.id))).map((reply) => reply.tweet.id));
  const seen = new Set<string>();
  const entries: NewChannelEntry[] = [];
  for (const tweet of candidates) {
    if (inKbConversations.has(tweet.id) || seen.has(tweet.id)) continue;
    seen.add(tweet.id);
    entries.push({
      channelId: channel.id, source: 'mention', xId: tweet.id, direction: 'in', parentId: tweet.inReplyToTweetId, personId: tweet.authorId,
      authorUsername: tweet.authorUsername, text: tweet.text, xCreatedAt: tweet.createdAt,
    });
  }
  return placeChannelEntries(deps, channel, entries, mentionRules(channel.id));
}

export function mentionRules(channelId: number): ChannelRules {
  return {
    firstEntryInResponse: false,
    linkOf: (entry: ChannelEntry) => `https://x.com/${entry.authorUsername ?? 'i'}/status/${entry.xId}`,
    placementOf: async (trx, entry) => {
      if (!entry.parentId) return { open: true };
      const parent = await new ChannelStore(trx).findEntry('mention', entry.parentId);
      if (!parent || parent.channelId !== channelId || parent.direction !== 'in' || !parent.recordKey) return { open: true };
      const channel = await new ChannelStore(trx).get(channelId);
      // Its record deleted: the reply is not lost, it opens a record of its own.
      if (!channel || !(await recordExists(trx, channel, parent.recordKey))) return { open: true };
      return { open: false, recordKey: parent.recordKey };
    },
  };
}

/** Where the mentions read starts for an account whose KB never tweeted: when its mentions channel was added. */
export async function mentionsChannelStartId(deps: Pick<SyncDeps, 'db'>, account: Account): Promise<string | undefined> {
  const channel = await new ChannelStore(deps.db).findForAccount(account.id, 'mentions');
  return channel ? tweetIdAtMs(Date.parse(channel.startedAt) - CHANNEL_START_SLACK_MS) : undefined;
}
