import type { Account } from '../../store/accounts';
import type { XClient, XTweet } from '../../twitter/x-client';

/**
 * Source: recent search for the account's @handle between sinceId and the oldest mention the
 * timeline reached, so a backlog of more than X's 800 newest mentions is never skipped by the cursor.
 */
export async function searchMentionsBacklog(x: XClient, account: Account, sinceId: string, olderThanId: string): Promise<XTweet[]> {
  if (!account.screenName) return [];
  return x.searchRecent(`@${account.screenName}`, sinceId, olderThanId);
}
