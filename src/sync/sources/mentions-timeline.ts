import type { Account } from '../../store/accounts';
import { MENTIONS_REACH } from '../../twitter/limits';
import type { XClient, XTweet } from '../../twitter/x-client';

/**
 * Source: the account's mentions timeline, newer than sinceId (one read per account per tick,
 * whatever the number of open conversations). `reachedLimit`: X stopped at the 800 newest, so
 * older mentions down to sinceId are left for the backlog search.
 */
export async function readMentionsTimeline(x: XClient, account: Account, sinceId: string): Promise<{ tweets: XTweet[]; reachedLimit: boolean }> {
  const tweets = await x.mentionsSince(account.xUserId as string, sinceId);
  return { tweets, reachedLimit: tweets.length >= MENTIONS_REACH };
}
