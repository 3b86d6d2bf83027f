import { conversationQueries } from '../../twitter/limits';
import type { XClient, XTweet } from '../../twitter/x-client';

/**
 * Source: recent search of whole conversations (several ids OR-ed per query), for replies inside
 * sub-threads that drop the account's @mention. Which conversations to search is the caller's choice.
 */
export async function searchConversations(x: XClient, conversationIds: string[], sinceId: string): Promise<XTweet[]> {
  const found: XTweet[] = [];
  for (const query of conversationQueries(conversationIds)) found.push(...await x.searchRecent(query, sinceId));
  return found;
}
