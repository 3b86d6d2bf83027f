import { performance } from 'node:perf_hooks';
import { errorMessage } from '../lib/errors';
import { channelOnlyAccounts } from '../channels/channel-work';
import { whileHoldingAccount } from './account-lease';
import { emptyCounts, workAccount, type AccountWork, type CycleCounts } from './poll-cycle';
import type { SyncDeps } from './sync-deps';

/**
 * How soon work is tried again when another worker holds its account, and the most it backs off
 * to. The holder does the work every worker is told of before it lets the lease go, and asks
 * again for work left after a bounded hold, so a waiting worker mostly comes back to take over
 * from one that died. Each try writes to the leases table: with hundreds of accounts held by
 * others, tries every quarter second cost the database more than the work (the scale-out
 * benchmark's three workers were slower than one).
 */
const BUSY_RETRY_MS = 150;
const BUSY_RETRY_MAX_MS = 5000;
/** After a failed run (the database or X failing), publishing is tried again after this, doubling. */
const FAILED_RETRY_MS = 1_000;
const FAILED_RETRY_MAX_MS = 30_000;
/** Runs in one hold of the lease before it goes back (and is asked for again at once, if work is left). */
const MAX_ROUNDS_PER_HOLD = 3;
/**
 * Work left after a hold asks for the lease again after a random moment in this range: longer
 * than a notified worker's jitter and a waiting worker's retry, so a worker waiting for the
 * account gets its turn.
 */
const REHOLD_DELAY_MS = [300, 600] as const;
const DEFAULT_ACCOUNTS_AT_ONCE = 50;

/**
 * At most `size` runs at once, the others in line in the order they asked. A dozen lines rather
 * than a dependency: the maintained libraries for it (p-limit) are ESM-only.
 */
export class Slots {
  private free: number;
  private readonly line: Array<() => void> = [];

  constructor(size: number) {
    this.free = size;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.line.push(resolve));
    try {
      return await work();
    } finally {
      // The slot goes straight to the next in line, or back.
      const next = this.line.shift();
      if (next) next();
      else this.free++;
    }
  }
}

interface Waiter {
  resolve(counts: CycleCounts): void;
}

interface AccountState {
  /** Work asked for and not begun yet: the "dirty" flags. */
  wanted: AccountWork | null;
  waiters: Waiter[];
  running: Promise<void> | null;
  retry: NodeJS.Timeout | null;
  /** "soon": a short delay (another worker had the account, or a spreading jitter) that new work may cut short; "wait": a limit or a failure to sit out. */
  retryKind: 'soon' | 'wait';
  busyDelayMs: number;
  failedDelayMs: number;
}

function merge(a: AccountWork | null, b: AccountWork): AccountWork {
  const publish = (a?.publish ?? false) || b.publish;
  const merged: AccountWork = { publish, collect: (a?.collect ?? false) || b.collect };
  // Publishing for some integrations, merged with publishing for all (or nothing), is for all.
  const only = (work: AccountWork | null): ReadonlySet<number> | 'all' | null => (work?.publish ? work.publishOnly ?? 'all' : null);
  const left = only(a);
  const right = only(b);
  if (left !== 'all' && right !== 'all' && (left || right)) merged.publishOnly = new Set<number>([...(left ?? []), ...(right ?? [])]);
  return merged;
}

/**
 * Each account's work in this process, one run at a time, under the account's lease. Work asked
 * for while a run goes on is not dropped: the run picks it up before it lets the lease go (the
 * flags are checked again in a loop). Work that finds the account held by another worker is
 * kept and tried again shortly, backing off, so a record never waits for a schedule it missed.
 */
export class AccountWorkQueue {
  private readonly accounts = new Map<number, AccountState>();
  private stopped = false;
  /**
   * Runs at once: a thousand accounts polled on the same minute would each hold a client, its
   * pages and its writes at the same moment (the memory), and beyond a few dozen the X calls'
   * waits overlap anyway. A run waits for its slot before it asks for the lease, so an account
   * waiting here can be taken by a worker with room.
   */
  private readonly slots: Slots;

  constructor(private readonly deps: SyncDeps) {
    this.slots = new Slots(deps.settings.accountsAtOnce ?? DEFAULT_ACCOUNTS_AT_ONCE);
  }

  /**
   * Asks for work on an account; resolves with the counts of the run that did it, or with
   * `accountsBusy: 1` when another worker holds the account (the work stays queued and is tried
   * again by itself).
   */
  request(accountId: number, work: AccountWork, options: { jitterMs?: number } = {}): Promise<CycleCounts> {
    if (this.stopped) return Promise.resolve({ ...emptyCounts(), accountsBusy: 1 });
    const state = this.stateOf(accountId);
    state.wanted = merge(state.wanted, work);
    const done = new Promise<CycleCounts>((resolve) => state.waiters.push({ resolve }));
    // New work does not sit out a busy back-off: the other worker may well be done by now.
    if (state.retry && state.retryKind === 'soon') {
      clearTimeout(state.retry);
      state.retry = null;
    }
    if (options.jitterMs && !state.running) this.later(accountId, state, Math.random() * options.jitterMs, 'soon');
    else this.kick(accountId, state);
    return done;
  }

  /**
   * Asks for work without waiting for it. `jitterMs`: news every worker hears at once (a
   * notification) is acted on after a random moment, so the accounts' leases go to different workers.
   */
  wake(accountId: number, work: AccountWork, options: { jitterMs?: number } = {}): void {
    void this.request(accountId, work, options);
  }

  /** No new runs; waits for the ones going on. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const state of this.accounts.values()) {
      if (state.retry) clearTimeout(state.retry);
      state.retry = null;
    }
    await Promise.all([...this.accounts.values()].map((state) => state.running));
    for (const state of this.accounts.values()) this.settle(state, { ...emptyCounts(), accountsBusy: 1 });
  }

  private stateOf(accountId: number): AccountState {
    let state = this.accounts.get(accountId);
    if (!state) {
      state = { wanted: null, waiters: [], running: null, retry: null, retryKind: 'soon', busyDelayMs: BUSY_RETRY_MS, failedDelayMs: FAILED_RETRY_MS };
      this.accounts.set(accountId, state);
    }
    return state;
  }

  /** Starts a run unless one is going on (it will see the new flags) or a retry is already set. */
  private kick(accountId: number, state: AccountState): void {
    if (state.running || state.retry || this.stopped) return;
    state.running = this.slots.run(async () => {
      // Stopped while it waited: stop() answers its waiters.
      if (!this.stopped) await this.run(accountId, state);
    }).finally(() => {
      state.running = null;
      // Asked for after the run's last look and before its lease went back, or left by a bounded hold.
      if (state.wanted) this.later(accountId, state, REHOLD_DELAY_MS[0] + Math.random() * (REHOLD_DELAY_MS[1] - REHOLD_DELAY_MS[0]), 'soon');
    });
  }

  private later(accountId: number, state: AccountState, delayMs: number, kind: 'soon' | 'wait', work?: AccountWork): void {
    if (this.stopped || state.retry) return;
    state.retryKind = kind;
    state.retry = setTimeout(() => {
      state.retry = null;
      if (work) state.wanted = merge(state.wanted, work);
      this.kick(accountId, state);
    }, delayMs);
    state.retry.unref?.();
  }

  private settle(state: AccountState, counts: CycleCounts): void {
    const waiters = state.waiters;
    state.waiters = [];
    for (const waiter of waiters) waiter.resolve(counts);
  }

  private async run(accountId: number, state: AccountState): Promise<void> {
    const deps = this.deps;
    let held;
    try {
      held = await whileHoldingAccount(deps, accountId, async () => {
        // The loop that keeps the lease until nothing is left: work that came in meanwhile is done now.
        // It is bounded, so a busy account still changes hands between workers now and then.
        let collected: CycleCounts | null = null;
        for (let round = 0; state.wanted && !this.stopped && round < MAX_ROUNDS_PER_HOLD; round++) {
          const work = state.wanted;
          const waiters = state.waiters;
          state.wanted = null;
          state.waiters = [];
          // A reply poll asked for while this hold already polled is answered by that poll: the
          // next tick reads on from its cursor.
          if (collected && work.collect) work.collect = false;
          if (!work.publish && !work.collect) {
            for (const waiter of waiters) waiter.resolve(collected ?? emptyCounts());
            continue;
          }
          const counts = emptyCounts();
          const started = performance.now();
          const everyIntegration = await deps.integrations.listForAccount(accountId);
          const integrations = everyIntegration.filter((integration) => integration.status === 'active');
          // An account with channels and no active integration is worked for its channels alone.
          const worked = integrations.length > 0 || (await channelOnlyAccounts(deps)).includes(accountId);
          const outcome = worked ? await workAccount(deps, accountId, integrations, counts, work, everyIntegration) : { postsWaitUntil: null };
          for (const waiter of waiters) waiter.resolve(counts);
          if (work.collect) collected = counts;
          // Each run's own cost, once, for people watching the log and for the benchmark's daemon figures.
          const didSomething = work.collect || counts.published + counts.skipped + counts.failed + counts.deferred > 0 || counts.errors.length > 0;
          deps.logger[didSomething ? 'info' : 'debug']('poll finished', {
            accountId, publish: work.publish, collect: work.collect, durationMs: Math.round(performance.now() - started), ...counts,
          });
          if (outcome.postsWaitUntil) {
            // X allows no more posts for now: the records wait pending until its window resets.
            const waitMs = Math.max(0, Date.parse(outcome.postsWaitUntil) - deps.clock.now().toMillis()) + 500;
            this.later(accountId, state, waitMs, 'wait', { publish: true, collect: false });
          }
          // One broken integration (its table dropped) is shown on it and left to the sweep, so the
          // account's other records are not held up; a run that failed as a whole is tried again, backing off.
          if (outcome.failed && work.publish) {
            this.later(accountId, state, state.failedDelayMs, 'wait', { publish: true, collect: false });
            state.failedDelayMs = Math.min(state.failedDelayMs * 2, FAILED_RETRY_MAX_MS);
          } else {
            state.failedDelayMs = FAILED_RETRY_MS;
          }
        }
      });
    } catch (error) {
      // The lease could not even be asked for (the database failing): try again later.
      deps.logger.child({ accountId }).error('account work failed', { error: errorMessage(error) });
      this.settle(state, { ...emptyCounts(), errors: [`account ${accountId}: ${errorMessage(error)}`] });
      this.later(accountId, state, state.failedDelayMs, 'wait', state.wanted ?? { publish: true, collect: false });
      state.failedDelayMs = Math.min(state.failedDelayMs * 2, FAILED_RETRY_MAX_MS);
      return;
    }
    if (!held.held) {
      // Another worker has the account: whoever asked learns it, and the work is tried again soon.
      this.settle(state, { ...emptyCounts(), accountsBusy: 1 });
      this.later(accountId, state, state.busyDelayMs, 'soon');
      state.busyDelayMs = Math.min(state.busyDelayMs * 2, BUSY_RETRY_MAX_MS);
      return;
    }
    state.busyDelayMs = BUSY_RETRY_MS;
  }
}
