import type { Clock } from '../lib/clock';
import { toIso } from '../lib/clock';
import { errorMessage } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { BILLABLE_UNITS, formatUsd, type BillableUnit, type PriceTable } from '../settings/prices';
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
  /** The writes of meters holding counts not written yet. */
  private readonly unwritten = new Set<() => Promise<void>>();
  /** The UTC day each account's older seen ids were last dropped in this process. */
  private readonly seenForgottenOn = new Map<number, string>();

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
    await this.flush();
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
    await this.flush();
    const today = this.today();
    const [days, months] = await Promise.all([this.store.unitsBetween(today, today), this.store.unitsBetween(`${today.slice(0, 7)}-01`, `${today.slice(0, 7)}-31`)]);
    return [
      ...[...days].map(([accountId, units]) => ({ accountId, period: 'day' as const, usd: usdOf(units, this.prices) })),
      ...[...months].map(([accountId, units]) => ({ accountId, period: 'month' as const, usd: usdOf(units, this.prices) })),
    ];
  }

  /** Counts held by this process's meters, written now: what is read next includes them. */
  async flush(): Promise<void> {
    await Promise.all([...this.unwritten].map((write) => write()));
  }

  /**
   * The meter for one account's client: its month so far and its budget are read once, and what
   * this client spends is added as it goes, so the budget stops the call after the one that reached it.
   * Counts are written in batches (see UnwrittenCounts), at the latest when the client's work is done.
   */
  async forAccount(account: Pick<Account, 'id'>): Promise<AccountMeter> {
    const today = this.today();
    const month = today.slice(0, 7);
    const spending = await this.store.spending(account.id);
    // Only a budget compares with the month so far: without one, it is not summed at every poll.
    let spent = spending.monthlyBudgetUsd === null ? 0 : (await this.periodCost(account.id, month)).usd;
    // Ids seen before today charge nothing again: dropped at the account's first client of the day.
    if (this.seenForgottenOn.get(account.id) !== today) {
      await this.store.forgetSeenBefore(account.id, today);
      this.seenForgottenOn.set(account.id, today);
    }
    const counts = new UnwrittenCounts();
    let timer: NodeJS.Timeout | null = null;
    let writing = Promise.resolve();
    const write = (): Promise<void> => {
      if (timer) clearTimeout(timer);
      timer = null;
      this.unwritten.delete(write);
      const batch = counts.take();
      // One write after the other, so a count is never read back before an earlier one is in.
      writing = writing.then(() => this.writeCounts(account.id, batch, (usd) => { spent += usd; }));
      return writing;
    };
    return {
      checkBudget: async () => {
        const budget = spending.monthlyBudgetUsd;
        if (budget === null || spent < budget) return;
        const reason = budgetReason(budget, spent, month);
        await this.store.hold(account.id, 'budget', reason, toIso(this.clock.now()))
          .catch((error) => this.logger.error('the budget hold could not be noted', { accountId: account.id, error: errorMessage(error) }));
        throw new XBudgetReachedError(reason);
      },
      count: async (billable: Billable) => {
        const day = this.today();
        if ('ids' in billable) {
          counts.addIds(day, billable.unit, billable.kind, billable.ids);
        } else {
          counts.addUnits(day, billable.unit, billable.count);
          // Known without the database: the budget sees a post at once.
          spent += billable.count * this.prices[billable.unit];
        }
        this.unwritten.add(write);
        // After the call that filled it has handed its answer on: the next request goes out first.
        if (counts.size() >= WRITE_AT_IDS) setImmediate(write);
        else timer ??= setTimeout(write, WRITE_WITHIN_MS).unref();
      },
      creditsDepleted: async (reason: string) => {
        this.logger.warn('X credits are used up: the account\'s work waits for the credits probe or a resume', { accountId: account.id });
        await this.store.hold(account.id, 'credits', reason, toIso(this.clock.now()))
          .catch((error) => this.logger.error('the credits hold could not be noted', { accountId: account.id, error: errorMessage(error) }));
      },
      flush: write,
    };
  }

  /** Metering must never cost the work: a call X answered stays answered if its count cannot be stored. */
  private async writeCounts(accountId: number, batch: CountBatch, spend: (usd: number) => void): Promise<void> {
    try {
      const units = new Map(batch.units);
      for (const { day, unit, kind, ids } of batch.ids) {
        const charged = await this.store.countFirstSeenToday(accountId, day, kind, ids);
        units.set(unitKey(day, unit), (units.get(unitKey(day, unit)) ?? 0) + charged);
        spend(charged * this.prices[unit]);
      }
      for (const [key, count] of units) {
        const [day, unit] = key.split('|') as [string, BillableUnit];
        await this.store.add(accountId, day, unit, count);
      }
    } catch (error) {
      this.logger.error('the cost meter could not count X calls', { accountId, error: errorMessage(error) });
    }
  }
}

// A meter's counts are written when this many resource ids wait, or this long after the first waited.
const WRITE_AT_IDS = 1000;
const WRITE_WITHIN_MS = 1000;

const unitKey = (day: string, unit: BillableUnit) => `${day}|${unit}`;

interface CountBatch {
  units: Map<string, number>;
  ids: Array<{ day: string; unit: BillableUnit; kind: string; ids: Set<string> }>;
}

/**
 * Counts not written yet: a statement per post or page cost more than the post's own work at
 * thousands of calls per poll, so they are summed by day and unit (and resource ids gathered) and
 * written together. A crash loses at most the last second's counts of an estimate; never a post.
 */
class UnwrittenCounts {
  private units = new Map<string, number>();
  private ids = new Map<string, { day: string; unit: BillableUnit; kind: string; ids: Set<string> }>();
  private idCount = 0;

  addUnits(day: string, unit: BillableUnit, count: number): void {
    this.units.set(unitKey(day, unit), (this.units.get(unitKey(day, unit)) ?? 0) + count);
  }

  addIds(day: string, unit: BillableUnit, kind: string, ids: string[]): void {
    const key = `${day}|${unit}|${kind}`;
    const group = this.ids.get(key) ?? { day, unit, kind, ids: new Set<string>() };
    for (const id of ids) group.ids.add(id);
    this.ids.set(key, group);
    this.idCount += ids.length;
  }

  size(): number {
    return this.idCount;
  }

  take(): CountBatch {
    const batch = { units: this.units, ids: [...this.ids.values()] };
    this.units = new Map();
    this.ids = new Map();
    this.idCount = 0;
    return batch;
  }
}
