import express from 'express';
import { readTableRecord } from '../../kb/records';
import { NotFoundError, UserFacingError } from '../../lib/errors';
import type { WebContext } from '../context';
import { knownTableOrFail } from '../kb-tables';
import { requireSignedIn } from '../middleware/auth';
import type { ChangeWatcher } from '../live/change-watcher';
import type { LiveStreams, LiveTopic } from '../live/event-streams';
import { communicationsTopic, dashboardTopic, recordFingerprint, recordTopic } from '../live/topics';

// The pages that update themselves; each is stamped with the version it was rendered at.
const LIVE_PAGES = [/^\/$/, /^\/communications$/, /^\/records\/[^/]+\/rows\/[^/]+$/];

const since = (req: express.Request): string | null => {
  const value = req.get('last-event-id') ?? (typeof req.query.since === 'string' ? req.query.since : '');
  return /^[\w-]{1,64}$/.test(value) ? value : null;
};

/**
 * Server-sent events for the dashboard, a record's page and the communications log, behind
 * sign-in with the pages' own access rules. Mounted before the sign-in redirect, so a stream
 * without a session is answered 401 (an EventSource cannot follow a redirect to a login form);
 * a person opening the address is sent to sign in, as on every page.
 */
export function liveRoutes({ services }: WebContext, watcher: ChangeWatcher, streams: LiveStreams): express.Router {
  const router = express.Router();

  router.use(async (req, res, next) => {
    if (req.method === 'GET' && req.user && LIVE_PAGES.some((page) => page.test(req.path))) {
      res.locals.liveSince = await watcher.currentVersion().catch(() => '');
    }
    next();
  });

  const signInFirst = requireSignedIn();
  const follow = (topicFor: (req: express.Request) => Promise<LiveTopic>): express.RequestHandler => async (req, res, next) => {
    // EventSource always asks for text/event-stream; anything else is a person who typed the address.
    const wantsStream = /\btext\/event-stream\b/.test(req.get('accept') ?? '');
    if (!req.user) {
      if (!wantsStream) return signInFirst(req, res, next);
      res.status(401).type('text/plain').send('Sign in to follow this page live.');
      return;
    }
    const topic = await topicFor(req);
    if (!topic.allows(req.user.role)) throw new UserFacingError('forbidden', 'Only admins can follow this page.', { status: 403 });
    if (!wantsStream) {
      res.status(406).type('text/plain').send('This address is the event stream of a page that updates itself; open the page instead.');
      return;
    }
    await streams.serve(req, res, req.user.id, topic, since(req));
  };

  router.get('/live/dashboard', follow(async () => dashboardTopic()));
  router.get('/live/communications', follow(async () => communicationsTopic()));
  router.get('/live/records/:table/rows/:key', follow(async (req) => {
    const table = await knownTableOrFail(services.db, req.params.table);
    const key = String(req.params.key);
    if (table.primaryKey.length !== 1 || !(await readTableRecord(services.db, table, key))) {
      throw new NotFoundError(`Table '${table.name}' has no record ${key}.`);
    }
    return recordTopic(services, table, key, await recordFingerprint(services, table, key));
  }));

  return router;
}
