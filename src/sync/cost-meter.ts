import type { Clock } from '../lib/clock';
import { toIso } from '../lib/clock';
import { errorMessage } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { BILLABLE_UNITS, formatUsd, type PriceTable } from '../settings/prices';
import type { Account } from '../store/accounts';
import { noUnits, type AccountSpending, type UnitCounts, type XUsageStore } from '../store/x-usage';
import { XBudgetReachedError, type AccountMeter, type Billable } from '../twitter/cost-meter-plugin';

/** The dashboard warns from this share of the monthly budget on. */
export const BUDGET_WARN_SHARE = 0.8;

export interface PeriodCost {
  /** "YYYY-MM-DD" for a day, "YYYY-MM" for a month (UTC). */
  period: string;
  units: UnitCounts;
  usd: number;
}

export interface CostEstimate {
  accountId: number;
  today: PeriodCost;
  month: PeriodCost;
  monthlyBudgetUsd: number | null;
  /** The month's estimate as a share of the budget (null without one). */
  budgetShare: number | null;
  budgetState: 'none' | 'ok' | 'warn' | 'reached';
  hold: AccountSpending['hold'];
}

const usdOf = (units: UnitCounts, prices: PriceTable) =>
  Math.round(BILLABLE_UNITS.reduce((sum, unit) => sum + units[unit] * prices[unit], 0) * 1e6) / 1e6;

export function budgetReason(budgetUsd: number, spentUsd: number, month: string): string {
  return `the account's monthly X budget of ${formatUsd(budgetUsd)} is reached (${formatUsd(spentUsd)} estimated for ${month}); `
    + 'its work waits, nothing is lost, until the month turns (UTC) or the budget is raised or lifted';
}

/**
 * The cost meter: X's billable units per account and UTC day, counted by the client plugin
 * (src/twitter/cost-meter-plugin.ts) from what X returned, priced with the configured table.
 */
export class CostMeter {
  constructor(readonly store: XUsageStore, readonly prices: PriceTable, private readonly clock: Clock, private readonly logger: Logger) {}

  private today(): string {
    return this.clock.now().toUTC().toISODate() as string;
  }

  private async periodCost(accountId: number, period: string): Promise<PeriodCost> {
    const days = period.length === 7 ? [`${period}-01`, `${period}-31`] : [period, period];
    const units = (await this.store.unitsBetween(days[0], days[1], accountId)).get(accountId) ?? noUnits();
    return { period, units, usd: usdOf(units, this.prices) };
  }

  /** Today's and a month's estimate (this month unless given), with the budget and any hold. */
  async estimate(accountId: number, month?: string): Promise<CostEstimate> {
    const today = this.today();
    const [day, monthCost, spending] = await Promise.all([
      this.periodCost(accountId, today), this.periodCost(accountId, month ?? today.slice(0, 7)), this.store.spending(accountId),
    ]);
    const budget = spending.monthlyBudgetUsd;
    // The budget is this month's: another month's figure is only compared for people to read.
    const share = budget === null ? null : monthCost.usd / budget;
    const budgetState = share === null ? 'none' : share >= 1 ? 'reached' : share >= BUDGET_WARN_SHARE ? 'warn' : 'ok';
    return { accountId, today: day, month: monthCost, monthlyBudgetUsd: budget, budgetShare: share, budgetState, hold: spending.hold };
  }

  /** Today's and this month's dollars for every account that used X, for /metrics. */
  async currentUsd(): Promise<Array<{ accountId: number; period: 'day' | 'month'; usd: number }>> {
    const today = this.today();
    const [days, months] = await Promise.all([this.store.unitsBetween(today, today), this.store.unitsBetween(`${today.slice(0, 7)}-01`, `${today.slice(0, 7)}-31`)]);
    return [
      ...[...days].map(([accountId, units]) => ({ accountId, period: 'day' as const, usd: usdOf(units, this.prices) })),
      ...[...months].map(([accountId, units]) => ({ accountId, period: 'month' as const, usd: usdOf(units, this.prices) })),
    ];
  }

  /**
   * The meter for one account's client: its month so far and its budget are read once, and what
   * this client spends is added as it goes, so the budget stops the call after the one that reached it.
   */
  async forAccount(account: Pick<Account, 'id'>): Promise<AccountMeter> {
    const today = this.today();
    const month = today.slice(0, 7);
    const [spending, monthCost] = await Promise.all([this.store.spending(account.id), this.periodCost(account.id, month)]);
    await this.store.forgetSeenBefore(account.id, today);
    let spent = monthCost.usd;
    return {
      checkBudget: async () => {
        const budget = spending.monthlyBudgetUsd;
        if (budget === null || spent < budget) return;
        const reason = budgetReason(budget, spent, month);
        await this.store.hold(account.id, 'budget', reason, toIso(this.clock.now()))
          .catch((error) => this.logger.error('the budget hold could not be noted', { accountId: account.id, error: errorMessage(error) }));
        throw new XBudgetReachedError(reason);
      },
      // Metering must never cost the work: a call X answered stays answered if its count cannot be stored.
      count: async (billable: Billable) => {
        try {
          const day = this.today();
          const units = 'ids' in billable ? (await this.store.firstSeenToday(account.id, day, billable.kind, billable.ids)).length : billable.count;
          await this.store.add(account.id, day, billable.unit, units);
          spent += units * this.prices[billable.unit];
        } catch (error) {
          this.logger.error('the cost meter could not count an X call', { accountId: account.id, unit: billable.unit, error: errorMessage(error) });
        }
      },
      creditsDepleted: async (reason: string) => {
        this.logger.warn('X credits are used up: the account\'s work waits for the credits probe or a resume', { accountId: account.id });
        await this.store.hold(account.id, 'credits', reason, toIso(this.clock.now()))
          .catch((error) => this.logger.error('the credits hold could not be noted', { accountId: account.id, error: errorMessage(error) }));
      },
    };
  }
}
