import { DateTime } from 'luxon';
import type { Knex } from 'knex';
import type { Clock } from '../lib/clock';
import { toIso } from '../lib/clock';
import { errorMessage } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { Account, AccountStore } from '../store/accounts';
import type { Integration, IntegrationStore } from '../store/integrations';
import { XUsageStore, type AccountSpending } from '../store/x-usage';
import { XAccountRefusedError } from '../twitter/errors';
import type { XClient } from '../twitter/x-client';
import type { CostMeter } from './cost-meter';

export interface CreditsProbeDeps {
  meter: CostMeter;
  accounts: AccountStore;
  integrations: IntegrationStore;
  clock: Clock;
  logger: Logger;
  /** How long after the last probe (or the 402) an account whose credits were used up is asked again. */
  probeEveryMs: number;
  createXClient(account: Account): Promise<XClient>;
  /** `integration resume`'s own work (src/setup/integration-setup.ts), which lifts the account's hold. */
  resume(integrationId: number): Promise<unknown>;
}

export interface ProbeOutcome {
  accountId: number;
  kind: 'credits' | 'budget';
  outcome: 'resumed' | 'still_held';
  reason: string;
}

/**
 * `integration resume` of one integration paused by an account-level hold is the account's resume:
 * the hold is lifted, and the account's other integrations paused with the same reason are
 * returned, to be resumed too. Nothing for an integration paused for another reason.
 */
export async function liftAccountHoldFor(deps: { db: Knex; integrations: IntegrationStore; clock: Clock }, paused: Integration): Promise<number[]> {
  const store = new XUsageStore(deps.db);
  const { hold } = await store.spending(paused.accountId);
  if (!hold || paused.pausedReason !== hold.reason) return [];
  await store.release(paused.accountId, hold.reason, toIso(deps.clock.now()));
  return (await deps.integrations.listForAccount(paused.accountId))
    .filter((other) => other.id !== paused.id && other.status === 'paused' && other.pausedReason === hold.reason)
    .map((other) => other.id);
}

/**
 * Why the probe's call is GET /2/users/me: it returns no post, and the one resource it reads (the
 * account's own user) is charged at most once per UTC day (X's rule), so probing every few
 * minutes costs at most one user read ($0.010) a day. Any billable call is refused with 402
 * while the credits are used up, so its success says the credits are back.
 */
async function creditsAreBack(deps: CreditsProbeDeps, account: Account): Promise<boolean> {
  const x = await deps.createXClient(account);
  try {
    await x.me();
    return true;
  } catch (error) {
    if (error instanceof XAccountRefusedError) return false;
    deps.logger.warn('the credits probe could not reach X; it asks again later', { accountId: account.id, error: errorMessage(error) });
    return false;
  } finally {
    await x.done();
  }
}

async function lift(deps: CreditsProbeDeps, spending: AccountSpending, reason: string): Promise<void> {
  const held = (await deps.integrations.listForAccount(spending.accountId)).filter((integration) => integration.status === 'paused' && integration.pausedReason === reason);
  // Resuming one resumes the account's others paused with the same reason, and lifts the hold.
  if (held.length > 0) await deps.resume(held[0].id);
  else await deps.meter.store.release(spending.accountId, reason, toIso(deps.clock.now()));
}

/**
 * Each held account, once: a credits hold whose probe is due asks X whether the credits are back;
 * a budget hold is lifted once the month turned (UTC) or the budget was raised or lifted. A lifted
 * hold resumes the account's integrations, whose waiting records the scheduler then publishes.
 * `force`: probe now whatever the interval (tests, `poll --once`).
 */
export async function probeHeldAccounts(deps: CreditsProbeDeps, options: { force?: boolean } = {}): Promise<ProbeOutcome[]> {
  const outcomes: ProbeOutcome[] = [];
  const now = deps.clock.now();
  for (const spending of await deps.meter.store.listSpending()) {
    const { hold } = spending;
    if (!hold) continue;
    try {
      let back: boolean;
      if (hold.kind === 'budget') {
        const estimate = await deps.meter.estimate(spending.accountId);
        back = estimate.budgetState !== 'reached';
      } else {
        const last = DateTime.fromISO(hold.lastProbeAt ?? hold.since, { zone: 'utc' });
        if (!options.force && last.isValid && now.toMillis() - last.toMillis() < deps.probeEveryMs) continue;
        const account = await deps.accounts.get(spending.accountId);
        if (!account) {
          await deps.meter.store.release(spending.accountId, hold.reason, toIso(now));
          continue;
        }
        back = await creditsAreBack(deps, account);
        if (!back) await deps.meter.store.probed(spending.accountId, toIso(deps.clock.now()));
      }
      if (back) {
        await lift(deps, spending, hold.reason);
        deps.logger.info('account hold lifted: its work resumes', { accountId: spending.accountId, hold: hold.kind });
      }
      outcomes.push({ accountId: spending.accountId, kind: hold.kind, outcome: back ? 'resumed' : 'still_held', reason: hold.reason });
    } catch (error) {
      deps.logger.error('the credits probe failed', { accountId: spending.accountId, error: errorMessage(error) });
    }
  }
  return outcomes;
}

// The budget's month turning is checked this often, whatever the credits probe's own interval.
const CHECK_EVERY_MS = 60_000;

/** The probe in a running daemon: every minute (or the probe interval, if shorter). */
export function startCreditsProbe(deps: CreditsProbeDeps): { stop(): void } {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    probeHeldAccounts(deps).catch((error) => deps.logger.error('the credits probe failed', { error: errorMessage(error) }))
      .finally(() => { running = false; });
  }, Math.min(CHECK_EVERY_MS, deps.probeEveryMs));
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
