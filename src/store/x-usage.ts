import type { Knex } from 'knex';
import { isPostgres } from '../db/dialect';
import { BILLABLE_UNITS, type BillableUnit } from '../settings/prices';

/** What the product owes X for, per unit: counts, not dollars (prices change; the estimate applies today's). */
export type UnitCounts = Record<BillableUnit, number>;

/** Why an account's work is held: X's credits are used up (402), or its monthly budget is reached. */
export type HoldKind = 'credits' | 'budget';

export interface AccountSpending {
  accountId: number;
  monthlyBudgetUsd: number | null;
  hold: { kind: HoldKind; reason: string; since: string; lastProbeAt: string | null } | null;
}

interface SpendingRow {
  account_id: number;
  monthly_budget_usd: number | string | null;
  hold_kind: HoldKind | null;
  hold_reason: string | null;
  held_since: string | null;
  last_probe_at: string | null;
}

const toSpending = (row: SpendingRow): AccountSpending => ({
  accountId: Number(row.account_id),
  monthlyBudgetUsd: row.monthly_budget_usd === null ? null : Number(row.monthly_budget_usd),
  hold: row.hold_kind && row.hold_reason
    ? { kind: row.hold_kind, reason: row.hold_reason, since: row.held_since ?? '', lastProbeAt: row.last_probe_at }
    : null,
});

export const noUnits = (): UnitCounts => Object.fromEntries(BILLABLE_UNITS.map((unit) => [unit, 0])) as UnitCounts;

/** The only SQL for kbts_x_usage, kbts_x_usage_seen and kbts_account_spending (the cost meter's tables). */
export class XUsageStore {
  constructor(private readonly db: Knex) {}

  /** Adds units to an account's UTC day. */
  async add(accountId: number, day: string, unit: BillableUnit, units: number): Promise<void> {
    if (units <= 0) return;
    await this.db('kbts_x_usage').insert({ account_id: accountId, day, unit, units })
      .onConflict(['account_id', 'day', 'unit']).merge({ units: this.db.raw('kbts_x_usage.units + excluded.units') });
  }

  /**
   * X charges a resource once per UTC day: how many of these ids this account had not seen yet
   * today (all are now noted as seen). Whoever inserts a row first counts it, whichever process.
   * One statement for the whole batch, the ids bound as one value: a statement per id (and
   * knex's formatting of each) was most of the cost of reading a backlog of replies.
   */
  async countFirstSeenToday(accountId: number, day: string, kind: string, ids: Iterable<string>): Promise<number> {
    const unique = [...new Set(ids)];
    if (unique.length === 0) return 0;
    const result = isPostgres(this.db)
      ? await this.db.raw(
        `INSERT INTO kbts_x_usage_seen (account_id, day, kind, resource_id)
         SELECT ?, ?, ?, value FROM json_array_elements_text(?::json) ON CONFLICT DO NOTHING`,
        [accountId, day, kind, JSON.stringify(unique)],
      )
      // "WHERE true" lets SQLite parse ON CONFLICT after INSERT … SELECT.
      : await this.db.raw(
        `INSERT INTO kbts_x_usage_seen (account_id, day, kind, resource_id)
         SELECT ?, ?, ?, value FROM json_each(?) WHERE true ON CONFLICT DO NOTHING`,
        [accountId, day, kind, JSON.stringify(unique)],
      );
    // better-sqlite3 answers { changes }, pg a result with rowCount.
    return Number((result as { changes?: number }).changes ?? (result as { rowCount?: number }).rowCount ?? 0);
  }

  /** The ids seen on earlier days are of no more use. */
  async forgetSeenBefore(accountId: number, day: string): Promise<void> {
    await this.db('kbts_x_usage_seen').where({ account_id: accountId }).where('day', '<', day).delete();
  }

  /** Units per account between two UTC days (both included; "YYYY-MM-DD"). */
  async unitsBetween(fromDay: string, toDay: string, accountId?: number): Promise<Map<number, UnitCounts>> {
    const query = this.db('kbts_x_usage').whereBetween('day', [fromDay, toDay])
      .select('account_id', 'unit').sum({ units: 'units' }).groupBy('account_id', 'unit');
    if (accountId !== undefined) query.where({ account_id: accountId });
    const byAccount = new Map<number, UnitCounts>();
    for (const row of await query as Array<{ account_id: number; unit: BillableUnit; units: number | string }>) {
      const counts = byAccount.get(Number(row.account_id)) ?? noUnits();
      if ((BILLABLE_UNITS as readonly string[]).includes(row.unit)) counts[row.unit] += Number(row.units);
      byAccount.set(Number(row.account_id), counts);
    }
    return byAccount;
  }

  async spending(accountId: number): Promise<AccountSpending> {
    const row = await this.db<SpendingRow>('kbts_account_spending').where({ account_id: accountId }).first();
    return row ? toSpending(row) : { accountId, monthlyBudgetUsd: null, hold: null };
  }

  async listSpending(): Promise<AccountSpending[]> {
    return (await this.db<SpendingRow>('kbts_account_spending').orderBy('account_id')).map(toSpending);
  }

  async setBudget(accountId: number, usd: number | null, now: string): Promise<void> {
    await this.db('kbts_account_spending').insert({ account_id: accountId, monthly_budget_usd: usd, updated_at: now })
      .onConflict('account_id').merge({ monthly_budget_usd: usd, updated_at: now });
  }

  /** Notes the hold the account's work is under; a hold already noted stays, as its integrations were paused with its reason. */
  async hold(accountId: number, kind: HoldKind, reason: string, now: string): Promise<void> {
    if ((await this.spending(accountId)).hold) return;
    await this.db('kbts_account_spending').insert({ account_id: accountId, hold_kind: kind, hold_reason: reason, held_since: now, updated_at: now })
      .onConflict('account_id').merge({ hold_kind: kind, hold_reason: reason, held_since: now, last_probe_at: null, updated_at: now });
  }

  async probed(accountId: number, now: string): Promise<void> {
    await this.db('kbts_account_spending').where({ account_id: accountId }).update({ last_probe_at: now, updated_at: now });
  }

  /** Lifts the hold, if it is still the one given (another process may have held the account again since). */
  async release(accountId: number, reason: string, now: string): Promise<boolean> {
    return (await this.db('kbts_account_spending').where({ account_id: accountId, hold_reason: reason })
      .update({ hold_kind: null, hold_reason: null, held_since: null, last_probe_at: null, updated_at: now })) > 0;
  }
}
