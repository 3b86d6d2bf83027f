// X's limits the engine plans around, in one place (see docs: x-api/README.md).

/** X serves only the 800 newest mentions, whatever since_id asks for. */
export const MENTIONS_REACH = 800;

/** The longest query recent search accepts. */
export const MAX_SEARCH_QUERY_LENGTH = 512;

/** How far back recent search reaches. */
export const SEARCH_WINDOW_DAYS = 7;

/** `term1 OR term2 …` queries, each within X's length limit (a term longer than the limit stays alone). */
export function orQueries(terms: string[]): string[] {
  const queries: string[] = [];
  let current = '';
  for (const term of terms) {
    const candidate = current ? `${current} OR ${term}` : term;
    if (candidate.length > MAX_SEARCH_QUERY_LENGTH && current) {
      queries.push(current);
      current = term;
    } else {
      current = candidate;
    }
  }
  if (current) queries.push(current);
  return queries;
}

/** `conversation_id:A OR conversation_id:B …` queries, each within X's length limit. */
export function conversationQueries(conversationIds: string[]): string[] {
  return orQueries(conversationIds.map((id) => `conversation_id:${id}`));
}

/** The oldest moment recent search still finds posts from. */
export function searchReachesBackToMs(nowMs: number): number {
  return nowMs - SEARCH_WINDOW_DAYS * 24 * 60 * 60 * 1000;
}

/**
 * What a read of the mentions could not reach: when the timeline stopped at its 800 newest
 * (`oldestServedMs` is its oldest), the backlog search reaches back only to `nowMs` − 7 days, so
 * the mentions from `sinceMs` up to the earlier of those two are out of X's reach. Null when
 * nothing is.
 */
export function mentionsOutOfReach(sinceMs: number, oldestServedMs: number, nowMs: number): { fromMs: number; toMs: number } | null {
  const toMs = Math.min(searchReachesBackToMs(nowMs), oldestServedMs);
  return sinceMs < toMs ? { fromMs: sinceMs, toMs } : null;
}
