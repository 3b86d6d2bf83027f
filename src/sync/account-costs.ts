import type { Knex } from 'knex';
import { NotFoundError, ValidationError } from '../lib/errors';
import { toIso } from '../lib/clock';
import { BILLABLE_UNITS, formatUsd, monthlyBudget, UNIT_LABELS } from '../settings/prices';
import type { AccountStore } from '../store/accounts';
import type { CostEstimate, CostMeter } from './cost-meter';
import { probeHeldAccounts, type CreditsProbeDeps } from './credits-probe';

/** `--month`: a UTC month as YYYY-MM. */
export function parseMonth(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(value.trim())) throw new ValidationError(`--month must be a month as YYYY-MM, such as 2026-12, not '${value}'`);
  return value.trim();
}

/** The estimate as `account costs --json` prints it (and the pages show it). */
export function costsJson(estimate: CostEstimate, prices: Record<string, number>) {
  const period = (cost: CostEstimate['today']) => ({ period: cost.period, usd: cost.usd, units: cost.units });
  return {
    account_id: estimate.accountId,
    today: period(estimate.today),
    month: period(estimate.month),
    monthly_budget_usd: estimate.monthlyBudgetUsd,
    budget_share: estimate.budgetShare === null ? null : Math.round(estimate.budgetShare * 1000) / 1000,
    budget_state: estimate.budgetState,
    hold: estimate.hold ? { kind: estimate.hold.kind, reason: estimate.hold.reason, since: estimate.hold.since } : null,
    prices,
    estimated: 'counted from what X returned, at the configured prices (KBTS_X_PRICES); X\'s own bill is the authority',
  };
}

export function describeCosts(estimate: CostEstimate): string {
  const lines = (cost: CostEstimate['today']) => BILLABLE_UNITS.filter((unit) => cost.units[unit] > 0).map((unit) => `    ${cost.units[unit]} ${UNIT_LABELS[unit]}`);
  return [
    `account ${estimate.accountId}: today (${estimate.today.period}, UTC) about ${formatUsd(estimate.today.usd)}; ${estimate.month.period} about ${formatUsd(estimate.month.usd)}`,
    ...lines(estimate.month),
    estimate.monthlyBudgetUsd === null ? '  no monthly budget' : `  monthly budget ${formatUsd(estimate.monthlyBudgetUsd)}: ${Math.round((estimate.budgetShare ?? 0) * 100)} % used${estimate.budgetState === 'reached' ? ' (reached: the account\'s work waits)' : estimate.budgetState === 'warn' ? ' (over 80 %)' : ''}`,
    ...(estimate.hold ? [`  paused: ${estimate.hold.reason}`] : []),
  ].join('\n');
}

export interface AccountCostsDeps {
  db: Knex;
  accounts: AccountStore;
  meter: CostMeter;
  probe: CreditsProbeDeps;
}

async function requireAccount(deps: AccountCostsDeps, accountId: number): Promise<void> {
  if (!(await deps.accounts.get(accountId))) throw new NotFoundError(`there is no account ${accountId}; \`account list\` shows the accounts`);
}

export async function accountCosts(deps: AccountCostsDeps, accountId: number, month?: string): Promise<CostEstimate> {
  await requireAccount(deps, accountId);
  return deps.meter.estimate(accountId, month);
}

/**
 * Sets or lifts an account's monthly budget (text as a person typed it). A budget hold that no
 * longer applies (raised, lifted) is lifted at once, and the account's work resumes.
 */
export async function setMonthlyBudget(deps: AccountCostsDeps, accountId: number, given: string): Promise<CostEstimate> {
  const parsed = monthlyBudget.safeParse(given);
  if (!parsed.success) throw new ValidationError(parsed.error.issues.map((issue) => issue.message).join('; '));
  await requireAccount(deps, accountId);
  await deps.meter.store.setBudget(accountId, parsed.data, toIso(deps.probe.clock.now()));
  const held = await deps.meter.estimate(accountId);
  if (held.hold?.kind === 'budget' && held.budgetState !== 'reached') await probeHeldAccounts(deps.probe);
  return deps.meter.estimate(accountId);
}
