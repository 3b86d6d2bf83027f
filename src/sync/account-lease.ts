import crypto from 'node:crypto';
import { toIso } from '../lib/clock';
import type { SyncDeps } from './sync-deps';

export type LeaseDeps = Pick<SyncDeps, 'leases' | 'clock' | 'logger' | 'settings' | 'workerId'>;

/** What `whileHoldingAccount` returns: the work's value, or that another worker holds the account. */
export type Held<T> = { held: true; value: T } | { held: false };

/**
 * Runs `work` while this worker holds the account's lease: taken atomically (or not at all when
 * another worker holds it), renewed every third of its length while the work runs, released
 * after. Polls, webhook ingestion and real-time publishing all go through it, so only one worker
 * handles an account at a time, across processes and machines.
 */
export async function whileHoldingAccount<T>(deps: LeaseDeps, accountId: number, work: () => Promise<T>): Promise<Held<T>> {
  const leaseName = `account:${accountId}`;
  // Unique per call, so two cycles in one process also exclude each other.
  const holder = `${deps.workerId}:${crypto.randomBytes(4).toString('hex')}`;
  const leaseUntil = () => toIso(deps.clock.now().plus({ seconds: deps.settings.leaseSeconds }));
  if (!(await deps.leases.tryAcquire(leaseName, holder, toIso(deps.clock.now()), leaseUntil()))) return { held: false };
  const renewal = setInterval(() => {
    deps.leases.renew(leaseName, holder, leaseUntil()).catch((error) => deps.logger.warn('lease renewal failed', { leaseName, error }));
  }, (deps.settings.leaseSeconds * 1000) / 3);
  try {
    return { held: true, value: await work() };
  } finally {
    clearInterval(renewal);
    await deps.leases.release(leaseName, holder).catch(() => undefined);
  }
}
