import { Router } from 'express';
import type { Services } from '../../app';
import { errorMessage } from '../../lib/errors';
import type { SchedulerControl } from '../context';

// A database that takes longer than this to answer "select 1" is as good as down for a probe.
const DATABASE_TIMEOUT_MS = 2000;

export type HealthStatus = 'ok' | 'degraded' | 'down';

interface Check {
  status: 'ok' | 'down' | 'stale' | 'stopped' | 'absent';
  /** In words, for the person reading the probe; never an error's text, which may name a host or user. */
  detail: string;
}

export interface Health {
  status: HealthStatus;
  checks: { database: Check; scheduler: Check };
}

async function checkDatabase(services: Services): Promise<Check> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      services.db.raw('select 1'),
      new Promise((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${DATABASE_TIMEOUT_MS} ms`)), DATABASE_TIMEOUT_MS); }),
    ]);
    return { status: 'ok', detail: 'the database answered' };
  } catch (error) {
    services.logger.warn('health check: the database did not answer', { error: errorMessage(error) });
    return { status: 'down', detail: 'the database did not answer; see the log' };
  } finally {
    clearTimeout(timer);
  }
}

/** Alive: started, and its task list read within twice its refresh interval. */
export function checkScheduler(scheduler: SchedulerControl | undefined, nowMs: number): Check {
  const liveness = scheduler?.liveness?.();
  if (!liveness) return { status: 'absent', detail: 'no scheduler runs in this process' };
  if (!liveness.running) return { status: 'stopped', detail: 'the scheduler is not running' };
  const last = liveness.lastRefreshAt?.getTime() ?? null;
  if (last === null || nowMs - last > 2 * liveness.refreshEveryMs) {
    const since = last === null ? 'never' : `${Math.round((nowMs - last) / 1000)} s ago`;
    return { status: 'stale', detail: `the scheduler last read its integrations ${since}; it should every ${Math.round(liveness.refreshEveryMs / 1000)} s` };
  }
  return { status: 'ok', detail: 'the scheduler is running' };
}

/**
 * GET /healthz, for load balancers and monitors: no sign-in, no secrets. 200 only when all is
 * well; 503 when the database is down ("down") or the scheduler is not ticking ("degraded"),
 * because then nothing is synced even though pages may still answer.
 */
export function healthRoutes(services: Services, scheduler: SchedulerControl | undefined): Router {
  const router = Router();
  router.get('/healthz', async (_req, res) => {
    const database = await checkDatabase(services);
    // Liveness is about real time passing (timers), not the product's clock, which tests move.
    const schedulerCheck = checkScheduler(scheduler, Date.now());
    const status: HealthStatus = database.status !== 'ok' ? 'down' : schedulerCheck.status !== 'ok' ? 'degraded' : 'ok';
    const body: Health = { status, checks: { database, scheduler: schedulerCheck } };
    res.status(status === 'ok' ? 200 : 503).set('Cache-Control', 'no-store').json(body);
  });
  return router;
}
