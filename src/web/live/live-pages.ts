import type { Services } from '../../app';
import { toIso } from '../../lib/clock';
import { ChangeMarkStore } from '../../store/change-marks';
import { ChangeWatcher } from './change-watcher';
import { DEFAULT_STREAM_LIMITS, LiveStreams, type LiveStreamLimits } from './event-streams';
import { LiveHub } from './live-hub';
import { pokeOnStoreWrites } from './store-writes';

export interface LivePagesOptions extends Partial<LiveStreamLimits> {
  /** How often other processes' changes are looked for while someone follows a page. */
  checkEveryMs?: number;
  /** The in-process signal; pass one to poke it from elsewhere (src/sync/wake.ts, say). */
  hub?: LiveHub;
}

/** A few looks a second at the high-water marks, only while someone follows a live page. */
export const LIVE_CHECK_EVERY_MS = 250;

export interface LivePages {
  hub: LiveHub;
  watcher: ChangeWatcher;
  streams: LiveStreams;
  /** Ends the streams and the looks, before the server and the database close. */
  stop(): Promise<void>;
}

const running = new WeakMap<Services, Set<LivePages>>();

/** The live pages' parts for one web app: the hub, the watcher on the database, the streams. */
export function createLivePages(services: Services, options: LivePagesOptions = {}): LivePages {
  const hub = options.hub ?? new LiveHub();
  const stopPokes = pokeOnStoreWrites(services.db, hub);
  const watcher = new ChangeWatcher(new ChangeMarkStore(services.db), hub, { intervalMs: options.checkEveryMs ?? LIVE_CHECK_EVERY_MS, logger: services.logger });
  const limits: LiveStreamLimits = {
    maxPerUser: options.maxPerUser ?? DEFAULT_STREAM_LIMITS.maxPerUser,
    maxTotal: options.maxTotal ?? DEFAULT_STREAM_LIMITS.maxTotal,
    heartbeatMs: options.heartbeatMs ?? DEFAULT_STREAM_LIMITS.heartbeatMs,
    retryMs: options.retryMs ?? DEFAULT_STREAM_LIMITS.retryMs,
  };
  const streams = new LiveStreams(watcher, limits, async (req) => {
    if (!req.sessionIdHash) return null;
    const session = await services.sessions.findActive(req.sessionIdHash, toIso(services.clock.now()));
    return session ? { role: session.role } : null;
  }, services.logger);
  const pages: LivePages = {
    hub, watcher, streams,
    async stop() {
      streams.closeAll();
      stopPokes();
      await watcher.stop();
      running.get(services)?.delete(pages);
    },
  };
  const forServices = running.get(services) ?? new Set();
  forServices.add(pages);
  running.set(services, forServices);
  return pages;
}

/**
 * Stops the live pages of every web app built on these services: open streams would keep
 * `server.close()` waiting for ever, and a look at the database must not outlive its pool.
 */
export async function stopLivePages(services: Services): Promise<void> {
  await Promise.all([...(running.get(services) ?? [])].map((pages) => pages.stop()));
}
