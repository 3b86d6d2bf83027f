import { toIso } from '../../lib/clock';
import { XIncompleteReadError, XPageCapError } from '../../twitter/errors';
import type { Account, BacklogWindow } from '../../store/accounts';
import type { Integration } from '../../store/integrations';
import { mentionsOutOfReach, SEARCH_WINDOW_DAYS, searchReachesBackToMs } from '../../twitter/limits';
import { compareTweetIds, maxTweetId, minTweetId, tweetIdAtMs, tweetIdBefore, tweetIdSecondsBefore, tweetIdTimeMs } from '../../twitter/snowflake';
import type { XClient, XTweet } from '../../twitter/x-client';
import { searchMentionsBacklog } from '../sources/backlog-search';
import { readMentionsTimeline } from '../sources/mentions-timeline';
import { searchConversations } from '../sources/sub-thread-search';
import type { SyncDeps } from '../sync-deps';
import { ingestReplies, matchToConversations, type IngestCounts } from './ingest';
import { ingestMentionsChannel, mentionsChannelStartId } from './channel-mentions';

// A sub-thread with a reply this recent counts as a live discussion worth searching.
const LIVE_DISCUSSION_HOURS = 24;

/**
 * The poll's reading of replies: the mentions timeline (and the backlog search past its reach),
 * then the conversations where sub-threads live, all fed to the one ingestion step. The mentions
 * cursor moves with the replies it covers.
 */
export async function collectReplies(deps: SyncDeps, account: Account, integrations: Integration[], x: XClient): Promise<IngestCounts> {
  if (!account.xUserId) return { repliesApplied: 0, repliesLogged: 0 };
  const sinceId = await readWindowStart(deps, account, integrations);
  if (sinceId === undefined) return { repliesApplied: 0, repliesLogged: 0 }; // nothing was ever tweeted: no conversation to read

  const mentions: XTweet[] = [];
  let newestSeen: string | null = null;
  // What is left of a backlog larger than one read, committed with the replies; undefined: as it was.
  let backlogLeft: BacklogWindow | null | undefined;
  // A read cut short (a repeated page token, the page cap) still gives its pages to ingestion,
  // which is idempotent, but the cursor stays: the pages it did not read are read next time. The
  // backlog search past the timeline is the exception: what its cap left is kept as a window.
  const unfinished: string[] = [];
  const finished = async <T>(read: () => Promise<T>, partial: (tweets: XTweet[]) => T): Promise<T> => {
    try {
      return await read();
    } catch (error) {
      if (!(error instanceof XIncompleteReadError)) throw error;
      unfinished.push(error.message);
      deps.logger.warn('read of X stopped before its end', { accountId: account.id, reason: error.message, pagesRead: error.partial.length });
      return partial(error.partial as XTweet[]);
    }
  };
  const due = await mentionsReadDue(deps, account);
  if (due.read) {
    const timeline = await finished(() => readMentionsTimeline(x, account, sinceId), (tweets) => ({ tweets, mayBeCut: false, servedWholeReach: false }));
    mentions.push(...timeline.tweets);
    const oldest = minTweetId(mentions.map((tweet) => tweet.id));
    const earlier = account.backlogWindow;
    // While an earlier backlog is still read, the search past the timeline starts at the cursor: the
    // overlap below it was read already, and a burst larger than a read inside the overlap would
    // otherwise be read again at every poll, and the older window never reached.
    const searchFrom = earlier && account.mentionsCursorId ? maxTweetId([sinceId, account.mentionsCursorId]) as string : sinceId;
    if (timeline.mayBeCut && oldest && compareTweetIds(oldest, searchFrom) > 0) {
      const window = { sinceId: searchFrom, untilId: oldest };
      const backlog = await finished(() => readBacklog(deps, x, account, window), (tweets) => ({ tweets, left: null }));
      mentions.push(...backlog.tweets);
      if (backlog.left) {
        // One window that covers both is enough: ingestion is idempotent, so re-reading a part costs only the read.
        backlogLeft = earlier ? coveringWindow(earlier, backlog.left) : backlog.left;
      } else if ((timeline.servedWholeReach || backlog.tweets.length > 0) && unfinished.length === 0) {
        // Found behind the timeline's oldest: it was cut, and what is older than search's 7 days is out of reach.
        await noteWhatXCannotServe(deps, account, window.sinceId, oldest);
      }
    }
    if (earlier && backlogLeft === undefined) {
      const rest = await finished(() => readBacklog(deps, x, account, earlier), (tweets) => ({ tweets, left: earlier }));
      mentions.push(...rest.tweets);
      backlogLeft = rest.left;
      if (!rest.left) await noteWhatXCannotServe(deps, account, earlier.sinceId, earlier.untilId);
    }
    newestSeen = unfinished.length === 0 ? maxTweetId(mentions.map((tweet) => tweet.id)) : null;
    // Counted from a read that worked: a failed one is tried again at the next poll.
    if (due.backstop && unfinished.length === 0) await deps.accountWebhooks?.update(account.id, { lastBackstopAt: toIso(deps.clock.now()) }, toIso(deps.clock.now()));
  }

  // The mentions channel takes its share of the same read first; if it fails, the cursor stays and the read comes again.
  if (mentions.length > 0) {
    await ingestMentionsChannel(deps, account, mentions).catch((error) => {
      newestSeen = null;
      deps.logger.error('mentions channel could not place mentions; they are read again', { accountId: account.id, error: (error as Error).message });
    });
  }
  const conversations = await conversationsToSearch(deps, account, integrations, mentions);
  const subThreads = conversations.length > 0 ? await finished(() => searchConversations(x, conversations, sinceId), (tweets) => tweets) : [];
  const cursor = newestSeen && await cursorBelowUncommittedPosts(deps, account, integrations, mentions, newestSeen);
  const counts = await ingestReplies(deps, account, integrations, [...mentions, ...subThreads], { moveCursorTo: cursor, backlogWindow: backlogLeft });
  if (unfinished.length > 0) {
    // Said as the account's problem (poll result, the integration's last error); nothing is lost.
    throw new XIncompleteReadError(
      `${unfinished.join('; ')}; ${counts.repliesApplied} replies read so far were written and the reply cursor was not moved`, [],
    );
  }
  return counts;
}

/**
 * Recent search for the account's mentions in a window. A backlog larger than one read (the page
 * cap) is not read again from its newest end at every poll: the read gives what it got, and the
 * window older than its oldest is left for the next polls, while the cursor moves on. Nothing is
 * called for a window wholly older than search's 7 days: it is out of X's reach.
 */
async function readBacklog(deps: SyncDeps, x: XClient, account: Account, window: BacklogWindow): Promise<{ tweets: XTweet[]; left: BacklogWindow | null }> {
  if (tweetIdTimeMs(window.untilId) <= searchReachesBackToMs(deps.clock.now().toMillis())) return { tweets: [], left: null };
  try {
    return { tweets: await searchMentionsBacklog(x, account, window.sinceId, window.untilId), left: null };
  } catch (error) {
    if (!(error instanceof XPageCapError)) throw error;
    const tweets = error.partial as XTweet[];
    const left = { sinceId: window.sinceId, untilId: minTweetId(tweets.map((tweet) => tweet.id)) ?? window.untilId };
    deps.logger.warn('backlog of mentions larger than one read: the rest is read at the next polls', {
      accountId: account.id, read: tweets.length, leftBefore: new Date(tweetIdTimeMs(left.untilId)).toISOString(),
    });
    return { tweets, left };
  }
}

function coveringWindow(a: BacklogWindow, b: BacklogWindow): BacklogWindow {
  return { sinceId: minTweetId([a.sinceId, b.sinceId]) as string, untilId: maxTweetId([a.untilId, b.untilId]) as string };
}

// Our clock (an attempt's start) against X's (a reply's id): as far apart as reconciliation allows.
const CLOCKS_APART_MS = 60_000;

/**
 * A reply to a tweet whose record is still "sending" (a process killed between the post and its
 * commit, an unknown outcome not reconciled yet) matches no record until the post is reconciled,
 * which a reply poll does not do. The cursor stays below the oldest such reply, so the read after
 * the reconciliation brings it again; once nothing is unsettled, the cursor moves on.
 */
async function cursorBelowUncommittedPosts(deps: SyncDeps, account: Account, integrations: Integration[], mentions: XTweet[], newestSeen: string): Promise<string> {
  const active = integrations.filter((integration) => integration.status === 'active');
  const since = await deps.publications.oldestUncommittedAttempt(active.map((integration) => integration.id));
  if (!since) return newestSeen;
  const notBefore = tweetIdAtMs(Date.parse(since) - CLOCKS_APART_MS);
  const repliesToUs = mentions.filter((tweet) => tweet.inReplyToUserId === account.xUserId && tweet.authorId !== account.xUserId
    && tweet.conversationId && compareTweetIds(tweet.id, notBefore) > 0);
  if (repliesToUs.length === 0) return newestSeen;
  const matched = new Set((await matchToConversations(deps, account, repliesToUs, active)).map((reply) => reply.tweet.id));
  const oldestUnmatched = minTweetId(repliesToUs.filter((tweet) => !matched.has(tweet.id)).map((tweet) => tweet.id));
  if (!oldestUnmatched) return newestSeen;
  deps.logger.debug('reply cursor held below a reply to a post not committed yet', { accountId: account.id, replyId: oldestUnmatched });
  const held = tweetIdBefore(oldestUnmatched);
  return compareTweetIds(held, newestSeen) < 0 ? held : newestSeen;
}

/**
 * Mentions older than both the timeline's 800 and search's 7 days are out of X's reach: the
 * window is noted for people to see (dashboard, `integration list --json`) before the cursor
 * moves past it, so it is never skipped in silence.
 */
async function noteWhatXCannotServe(deps: SyncDeps, account: Account, sinceId: string, oldestServedId: string): Promise<void> {
  const now = deps.clock.now();
  const lost = mentionsOutOfReach(tweetIdTimeMs(sinceId), tweetIdTimeMs(oldestServedId), now.toMillis());
  if (!lost) return;
  const window = { accountId: account.id, from: new Date(lost.fromMs).toISOString(), to: new Date(lost.toMs).toISOString(), reason: 'mentions_beyond_reach' as const };
  await deps.unreadableWindows.note(window, toIso(now));
  deps.logger.warn('replies out of X\'s reach', { accountId: account.id, from: window.from, to: window.to });
}

/**
 * With real-time replies on, replies and mentions come by webhook and the mentions read is a
 * backstop for lost deliveries, at the account's own longer interval. Webhook ingestion never
 * moves the cursor, so the backstop reads everything since its last read.
 */
async function mentionsReadDue(deps: SyncDeps, account: Account): Promise<{ read: boolean; backstop: boolean }> {
  const webhook = await deps.accountWebhooks?.get(account.id);
  if (!webhook?.enabled) return { read: true, backstop: false };
  const sinceLast = webhook.lastBackstopAt ? deps.clock.now().toMillis() - Date.parse(webhook.lastBackstopAt) : Infinity;
  return { read: sinceLast >= webhook.backstopMinutes * 60_000, backstop: true };
}

/**
 * Mentions are read from a little behind the cursor (X can show a reply late), and never from
 * before the account's first tweet from the KB: nothing older can reply to a record.
 */
async function readWindowStart(deps: SyncDeps, account: Account, integrations: Integration[]): Promise<string | undefined> {
  if (account.mentionsCursorId) return tweetIdSecondsBefore(account.mentionsCursorId, deps.settings.replyOverlapSeconds);
  const firstTweet = await deps.communications.firstOutgoing(integrations.map((integration) => integration.id));
  // A mentions channel reads from when it was added, whether or not the KB tweeted yet.
  return firstTweet ? tweetIdBefore(firstTweet) : mentionsChannelStartId(deps, account);
}

/**
 * Replies inside a sub-thread (people answering each other rather than the account) may drop
 * the account's @mention, so the mentions read cannot see them all. Conversations where such a
 * sub-thread showed up (this tick, or logged in the last day) are searched, within X's 7-day
 * window: the calls follow live discussions, never the number of open conversations.
 */
async function conversationsToSearch(deps: SyncDeps, account: Account, integrations: Integration[], mentions: XTweet[]): Promise<string[]> {
  const now = deps.clock.now();
  const ids = new Set(integrations.map((integration) => integration.id));
  const branchingNow = mentions
    .filter((tweet) => tweet.conversationId && tweet.authorId !== account.xUserId && tweet.inReplyToUserId && tweet.inReplyToUserId !== account.xUserId)
    .map((tweet) => tweet.conversationId as string);
  const branchingBefore = await deps.communications.conversationsWithSubThreads([...ids], toIso(now.minus({ hours: LIVE_DISCUSSION_HOURS })));
  const candidates = [...new Set([...branchingNow, ...branchingBefore])];
  if (candidates.length === 0) return [];
  const searchableSince = toIso(now.minus({ days: SEARCH_WINDOW_DAYS }));
  return (await deps.publications.findSentByTweetIds(candidates))
    .filter((publication) => ids.has(publication.integrationId) && (publication.sentAt ?? publication.createdAt) > searchableSince)
    .map((publication) => publication.tweetId as string);
}
