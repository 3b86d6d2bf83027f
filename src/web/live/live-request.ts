import type express from 'express';

/** The header the live pages' script sends when it fetches its page again in the background. */
export const LIVE_REFRESH_HEADER = 'x-kbts-live';

/**
 * A request the page made by itself (a stream, or a refresh after a change), not the person:
 * it neither takes the notice left for their next page nor keeps their session alive.
 */
export function isLiveRequest(req: express.Request): boolean {
  return req.path.startsWith('/live/') || req.get(LIVE_REFRESH_HEADER) === '1';
}
