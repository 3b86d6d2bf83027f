import { DateTime } from 'luxon';
import { errorMessage } from '../lib/errors';
import { toIso } from '../lib/clock';
import type { Account } from '../store/accounts';
import type { Integration } from '../store/integrations';
import { XAccountRefusedError, XRateLimitError } from '../twitter/errors';
import type { XClient } from '../twitter/x-client';
import { whileHoldingAccount } from './account-lease';
import { collectReplies } from './inbound/collect-replies';
import { channelOnlyAccounts, workChannels } from '../channels/channel-work';
import { publishDueRecords } from './outbound/record-tweets';
import { postDueAgentReplies } from './outbound/agent-replies';
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

/** What a run for an account does: publish its due records, collect its replies, or both. */
export interface AccountWork {
  publish: boolean;
  collect: boolean;
  /** Publish only these integrations' records (a wake-up that named them); absent: all of the account's. */
  publishOnly?: ReadonlySet<number>;
}

const BOTH: AccountWork = { publish: true, collect: true };

/**
 * One publish + collect cycle (`poll --once`, and "Run now" without a scheduler). Work is grouped
 * by account (X's rate limits are per user), and each account is worked under its lease so two
 * processes never work it at once.
 */
export async function runPollCycle(deps: SyncDeps, options: { integrationId?: number } = {}): Promise<CycleCounts> {
  const counts = emptyCounts();
  let integrations = (await deps.integrations.list()).filter((integration) => integration.status === 'active');
  if (options.integrationId !== undefined) integrations = integrations.filter((integration) => integration.id === options.integrationId);
  const byAccount = new Map<number, Integration[]>();
  for (const integration of integrations) {
    byAccount.set(integration.accountId, [...(byAccount.get(integration.accountId) ?? []), integration]);
  }
  // Accounts whose only work is their channels (mentions and DMs made records).
  if (options.integrationId === undefined) for (const accountId of await channelOnlyAccounts(deps)) byAccount.set(accountId, []);
  for (const [accountId, accountIntegrations] of byAccount) {
    const before = { ...counts, errors: [...counts.errors] };
    let held = true;
    try {
      const worked = await whileHoldingAccount(deps, accountId, () => workAccount(deps, accountId, accountIntegrations, counts, BOTH));
      held = worked.held;
      if (!worked.held) counts.accountsBusy++;
    } catch (error) {
      // The lease itself could not be read (the database failing): this account waits for the next cycle.
      counts.errors.push(`account ${accountId}: ${errorMessage(error)}`);
      deps.logger.child({ accountId }).error('poll of account failed', { error: errorMessage(error) });
    }
    counts.accounts.push(await accountOutcome(deps, accountId, before, counts, held).catch((error) => ({
      accountId, outcome: 'failed' as const, published: 0, failed: 0, repliesApplied: 0, rateLimitedUntil: null, reason: errorMessage(error),
    })));
  }
  return counts;
}

/** What a run for an account leaves for later: X allows no more posts until then. */
export interface AccountWorkOutcome {
  postsWaitUntil: string | null;
  /** The run failed as a whole (the database, building the client): worth trying again soon. */
  failed?: boolean;
}

/**
 * One account's work, for a caller that holds its lease: publishing, then replies. X refusing the
 * account pauses it with the reason; any other failure is counted, logged and kept on the
 * integrations, and never stops another account. `everyIntegration`: all of the account's
 * integrations, paused ones too, when the caller has just read them (else they are read here).
 */
export async function workAccount(
  deps: SyncDeps, accountId: number, integrations: Integration[], counts: CycleCounts, work: AccountWork,
  everyIntegration?: Integration[],
): Promise<AccountWorkOutcome> {
  try {
    return await pollAccount(deps, accountId, integrations, counts, work, everyIntegration);
  } catch (error) {
    const message = errorMessage(error);
    counts.errors.push(`account ${accountId}: ${message}`);
    deps.logger.child({ accountId }).error('poll of account failed', { error: message });
    for (const integration of integrations) {
      // Best effort: when the database itself is failing, this write may fail too.
      await deps.integrations.recordPoll(integration.id, toIso(deps.clock.now()), message).catch(() => undefined);
    }
    return { postsWaitUntil: null, failed: true };
  }
}

/**
 * X's own count of the account's posts (100 per 15 minutes per user), as its last answer gave
 * it: none left means records wait until this time. Null when posting is allowed.
 */
export function postsExhaustedUntil(account: Account, now: DateTime): string | null {
  const limit = account.rateLimits[POST_TWEETS];
  if (!limit || limit.remaining > 0) return null;
  const reset = DateTime.fromMillis(limit.reset * 1000, { zone: 'utc' });
  return reset > now ? toIso(reset) : null;
}

const POST_TWEETS = 'POST /2/tweets';

async function pollAccount(
  deps: SyncDeps, accountId: number, integrations: Integration[], counts: CycleCounts, work: AccountWork, everyIntegration?: Integration[],
): Promise<AccountWorkOutcome> {
  const account = await deps.accounts.get(accountId) as Account;
  // Past X's post limit (100 per 15 minutes per user) records wait pending, without a call
  // that X would refuse; the record page and the dashboard say until when.
  const postsWaitUntil = work.publish ? postsExhaustedUntil(account, deps.clock.now()) : null;
  const publish = work.publish && postsWaitUntil === null;
  if (!publish && !work.collect) return { postsWaitUntil };
  const x = await deps.createXClient(account);
  try {
    const toPublish = work.publishOnly ? integrations.filter((integration) => work.publishOnly!.has(integration.id)) : integrations;
    const published = publish ? await publishForAccount(deps, account, toPublish, x, counts) : { refused: null, failedIntegrations: new Map<number, string>(), rateLimitedUntil: null };
    let refused = published.refused;
    if (!refused && publish && published.rateLimitedUntil === null) refused = await postDueAgentReplies(deps, account, toPublish, x);
    if (!refused && work.collect) refused = await collectForAccount(deps, account, x, counts, everyIntegration);
    // Mentions and direct messages made records (issue 15): DMs out at every run, read at reply polls.
    if (!refused) refused = await workChannels(deps, account, x, { read: work.collect });
    if (refused) {
      // The whole account is refused: stop its integrations with the reason instead of retrying forever.
      await deps.integrations.pauseAccount(account.id, refused, toIso(deps.clock.now()));
      counts.errors.push(`account ${account.id}: ${refused}`);
      deps.logger.warn('integrations paused: X refused the account', { accountId: account.id, reason: refused });
    }
    for (const integration of integrations) {
      const problem = refused ?? published.failedIntegrations.get(integration.id) ?? null;
      // "Last poll" is the last reply poll: publishing on its own only records its problems.
      if (work.collect) await deps.integrations.recordPoll(integration.id, toIso(deps.clock.now()), problem);
      else if (problem !== null) await deps.integrations.recordError(integration.id, toIso(deps.clock.now()), problem);
    }
    if (x.totalCalls > 0) await deps.accounts.saveRateLimits(account.id, Object.fromEntries(x.rateLimits));
    return { postsWaitUntil: postsWaitUntil ?? published.rateLimitedUntil };
  } finally {
    counts.apiCalls += x.totalCalls;
    await x.done();
  }
}

/** Each integration's due records; stops at the account's first rate limit or refusal. */
async function publishForAccount(
  deps: SyncDeps, account: Account, integrations: Integration[], x: XClient, counts: CycleCounts,
): Promise<{ refused: string | null; failedIntegrations: Map<number, string>; rateLimitedUntil: string | null }> {
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
    if (published.published + published.skipped + published.failed > 0) deps.signals.publicationsChanged(integration.id);
    if (stop?.kind === 'rate_limit') {
      // Each record waits on its own next_attempt_at; this is for people to see.
      await deps.accounts.setRateLimitedUntil(account.id, stop.until);
      return { refused: null, failedIntegrations, rateLimitedUntil: stop.until };
    }
    if (stop?.kind === 'account_refused') return { refused: stop.reason, failedIntegrations, rateLimitedUntil: null };
  }
  return { refused: null, failedIntegrations, rateLimitedUntil: null };
}

/**
 * The account's replies for all its integrations, paused ones too (their replies are held for the
 * resume); `everyIntegration` when the caller has just read them. Returns X's refusal of the account, if any.
 */
async function collectForAccount(deps: SyncDeps, account: Account, x: XClient, counts: CycleCounts, everyIntegration?: Integration[]): Promise<string | null> {
  try {
    const collected = await collectReplies(deps, account, everyIntegration ?? await deps.integrations.listForAccount(account.id), x);
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
