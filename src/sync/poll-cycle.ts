import { errorMessage } from '../lib/errors';
import { toIso } from '../lib/clock';
import type { Account } from '../store/accounts';
import type { Integration } from '../store/integrations';
import { XAccountRefusedError, XRateLimitError } from '../twitter/errors';
import type { XClient } from '../twitter/x-client';
import { whileHoldingAccount } from './account-lease';
import { collectReplies } from './inbound/collect-replies';
import { publishDueRecords } from './outbound/record-tweets';
import type { SyncDeps } from './sync-deps';

export interface CycleCounts {
  published: number;
  skipped: number;
  failed: number;
  deferred: number;
  repliesApplied: number;
  repliesLogged: number;
  apiCalls: number;
  /** Accounts left alone because another worker holds them. */
  accountsBusy: number;
  errors: string[];
  /** What became of each account's work in this cycle, for `poll --once --json` and its exit code. */
  accounts: AccountOutcome[];
}

/**
 * One account's cycle: `done` (its work ran; records may still have failed on their own),
 * `rate_limited` (waits until X's reset), `paused` (X refused the account: a person must act),
 * `failed` (its work or an integration's work failed), `busy` (another worker holds it).
 */
export interface AccountOutcome {
  accountId: number;
  outcome: 'done' | 'rate_limited' | 'paused' | 'failed' | 'busy';
  published: number;
  failed: number;
  repliesApplied: number;
  rateLimitedUntil: string | null;
  reason: string | null;
}

export function emptyCounts(): CycleCounts {
  return { published: 0, skipped: 0, failed: 0, deferred: 0, repliesApplied: 0, repliesLogged: 0, apiCalls: 0, accountsBusy: 0, errors: [], accounts: [] };
}

/** Reads the account's outcome from what its work added to the cycle's counts and left in the store. */
async function accountOutcome(deps: SyncDeps, accountId: number, before: CycleCounts, after: CycleCounts, held: boolean): Promise<AccountOutcome> {
  const outcome: AccountOutcome = {
    accountId, outcome: held ? 'done' : 'busy', published: after.published - before.published, failed: after.failed - before.failed,
    repliesApplied: after.repliesApplied - before.repliesApplied, rateLimitedUntil: null, reason: null,
  };
  if (!held) return outcome;
  const problems = after.errors.slice(before.errors.length);
  const paused = (await deps.integrations.listForAccount(accountId)).find((integration) => integration.status === 'paused' && integration.pausedReason);
  const account = await deps.accounts.get(accountId);
  const nowIso = toIso(deps.clock.now());
  if (problems.length > 0 && paused && problems.some((problem) => problem.includes(paused.pausedReason as string))) {
    return { ...outcome, outcome: 'paused', reason: paused.pausedReason };
  }
  if (problems.length > 0) return { ...outcome, outcome: 'failed', reason: problems.join('; ') };
  if (account?.rateLimitedUntil && account.rateLimitedUntil > nowIso) return { ...outcome, outcome: 'rate_limited', rateLimitedUntil: account.rateLimitedUntil };
  return outcome;
}

/**
 * One publish + collect cycle. Work is grouped by account (X's rate limits are per user), and
 * each account is worked under its lease so two processes never work it at once.
 */
export async function runPollCycle(deps: SyncDeps, options: { integrationId?: number } = {}): Promise<CycleCounts> {
  const counts = emptyCounts();
  let integrations = (await deps.integrations.list()).filter((integration) => integration.status === 'active');
  if (options.integrationId !== undefined) integrations = integrations.filter((integration) => integration.id === options.integrationId);
  const byAccount = new Map<number, Integration[]>();
  for (const integration of integrations) {
    byAccount.set(integration.accountId, [...(byAccount.get(integration.accountId) ?? []), integration]);
  }
  for (const [accountId, accountIntegrations] of byAccount) {
    const before = { ...counts, errors: [...counts.errors] };
    let held = true;
    try {
      const worked = await whileHoldingAccount(deps, accountId, () => pollAccount(deps, accountId, accountIntegrations, counts));
      held = worked.held;
      if (!worked.held) counts.accountsBusy++;
    } catch (error) {
      // One account's failure never stops the others.
      const message = errorMessage(error);
      counts.errors.push(`account ${accountId}: ${message}`);
      deps.logger.child({ accountId }).error('poll of account failed', { error: message });
      for (const integration of accountIntegrations) {
        // Best effort: when the database itself is failing, this write may fail too.
        await deps.integrations.recordPoll(integration.id, toIso(deps.clock.now()), message).catch(() => undefined);
      }
    }
    counts.accounts.push(await accountOutcome(deps, accountId, before, counts, held).catch((error) => ({
      accountId, outcome: 'failed' as const, published: 0, failed: 0, repliesApplied: 0, rateLimitedUntil: null, reason: errorMessage(error),
    })));
  }
  return counts;
}

/** The account's publishing then its replies; X refusing the account pauses it with the reason. */
async function pollAccount(deps: SyncDeps, accountId: number, integrations: Integration[], counts: CycleCounts): Promise<void> {
  const account = await deps.accounts.get(accountId) as Account;
  const x = await deps.createXClient(account);
  try {
    const published = await publishForAccount(deps, account, integrations, x, counts);
    let refused = published.refused;
    if (!refused) refused = await collectForAccount(deps, account, x, counts);
    if (refused) {
      // The whole account is refused: stop its integrations with the reason instead of retrying forever.
      await deps.integrations.pauseAccount(account.id, refused, toIso(deps.clock.now()));
      counts.errors.push(`account ${account.id}: ${refused}`);
      deps.logger.warn('integrations paused: X refused the account', { accountId: account.id, reason: refused });
    }
    for (const integration of integrations) {
      await deps.integrations.recordPoll(integration.id, toIso(deps.clock.now()), refused ?? published.failedIntegrations.get(integration.id) ?? null);
    }
    await deps.accounts.saveRateLimits(account.id, Object.fromEntries(x.rateLimits));
  } finally {
    counts.apiCalls += x.totalCalls;
  }
}

/** Each integration's due records; stops at the account's first rate limit or refusal. */
async function publishForAccount(
  deps: SyncDeps, account: Account, integrations: Integration[], x: XClient, counts: CycleCounts,
): Promise<{ refused: string | null; failedIntegrations: Map<number, string> }> {
  const failedIntegrations = new Map<number, string>();
  for (const integration of integrations) {
    let outcome: Awaited<ReturnType<typeof publishDueRecords>>;
    try {
      outcome = await publishDueRecords(deps, integration, account, x);
    } catch (error) {
      // A broken integration (its table dropped, say) must not stop the account's others.
      const message = errorMessage(error);
      failedIntegrations.set(integration.id, message);
      counts.errors.push(`integration ${integration.id}: ${message}`);
      deps.logger.error('publishing failed', { integrationId: integration.id, error: message });
      continue;
    }
    const { counts: published, stop } = outcome;
    counts.published += published.published;
    counts.skipped += published.skipped;
    counts.failed += published.failed;
    counts.deferred += published.deferred;
    if (stop?.kind === 'rate_limit') {
      // Each record waits on its own next_attempt_at; this is for people to see.
      await deps.accounts.setRateLimitedUntil(account.id, stop.until);
      break;
    }
    if (stop?.kind === 'account_refused') return { refused: stop.reason, failedIntegrations };
  }
  return { refused: null, failedIntegrations };
}

/** The account's replies for all its integrations; returns X's refusal of the account, if any. */
async function collectForAccount(deps: SyncDeps, account: Account, x: XClient, counts: CycleCounts): Promise<string | null> {
  try {
    const collected = await collectReplies(deps, account, await deps.integrations.listForAccount(account.id), x);
    counts.repliesApplied += collected.repliesApplied;
    counts.repliesLogged += collected.repliesLogged;
    return null;
  } catch (error) {
    if (error instanceof XAccountRefusedError) return error.message;
    if (error instanceof XRateLimitError) {
      await deps.accounts.setRateLimitedUntil(account.id, error.resetAt ? new Date(error.resetAt).toISOString() : null);
      return null;
    }
    throw error;
  }
}
