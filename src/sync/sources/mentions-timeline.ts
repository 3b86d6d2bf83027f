import type { Account } from '../../store/accounts';
import { MENTIONS_REACH } from '../../twitter/limits';
import type { XClient, XTweet } from '../../twitter/x-client';

// The timeline's page size: a read of one page or less took one look at X, so nothing can have
// come in between its pages.
const PAGE_SIZE = 100;

/**
 * Source: the account's mentions timeline, newer than sinceId (one read per account per tick,
 * whatever the number of open conversations). `mayBeCut`: X may have stopped at its 800
 * newest, so older mentions down to sinceId are left for the backlog search; `servedWholeReach`:
 * it surely did. X counts the 800
 * at each page: mentions that come in while the pages are read push the oldest out of reach, and
 * a cut read then serves fewer than 800. So any read of more than a page counts as possibly cut;
 * the search costs one call when nothing is missing.
 */
export async function readMentionsTimeline(x: XClient, account: Account, sinceId: string): Promise<{ tweets: XTweet[]; mayBeCut: boolean; servedWholeReach: boolean }> {
  const tweets = await x.mentionsSince(account.xUserId as string, sinceId);
  return { tweets, mayBeCut: tweets.length > PAGE_SIZE, servedWholeReach: tweets.length >= MENTIONS_REACH };
}
