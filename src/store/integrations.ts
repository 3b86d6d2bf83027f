import type { Knex } from 'knex';
import { rowToSettings, settingsToRow, type ChangeableSettings, type StoredSettings } from '../settings/integration-settings';

export { LONG_TEXT_POLICIES, type LongTextPolicy } from '../settings/integration-settings';
export type IntegrationStatus = 'active' | 'paused';

/** An integration: its settings (described in settings/integration-settings.ts) and what the product keeps about it. */
export interface Integration extends StoredSettings {
  id: number;
  tableName: string;
  primaryKeyColumn: string;
  status: IntegrationStatus;
  pausedReason: string | null;
  lastPollAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  createdAt: string;
  /** Set by the migration on a twin found in an older installation: the integration this one repeats. */
  duplicateOf: number | null;
}

export type NewIntegration = StoredSettings & Pick<Integration, 'tableName' | 'primaryKeyColumn'>;

interface IntegrationRow extends Record<string, unknown> {
  id: number;
  table_name: string;
  primary_key_column: string;
  status: IntegrationStatus;
  paused_reason: string | null;
  last_poll_at: string | null;
  last_error: string | null;
  last_error_at: string | null;
  created_at: string;
  duplicate_of: number | null;
}

function toIntegration(row: IntegrationRow): Integration {
  return {
    id: row.id,
    ...rowToSettings(row),
    tableName: row.table_name,
    primaryKeyColumn: row.primary_key_column,
    status: row.status,
    pausedReason: row.paused_reason,
    lastPollAt: row.last_poll_at,
    lastError: row.last_error,
    lastErrorAt: row.last_error_at,
    createdAt: row.created_at,
    duplicateOf: row.duplicate_of ?? null,
  };
}

export class IntegrationStore {
  constructor(private readonly db: Knex) {}

  /** This store on another connection, e.g. a transaction: `store.with(trx).method(…)`. */
  with(db: Knex): IntegrationStore {
    return new IntegrationStore(db);
  }

  async create(input: NewIntegration, now: string): Promise<number> {
    const [row] = await this.db('kbts_integrations').insert({
      ...settingsToRow(input),
      table_name: input.tableName,
      primary_key_column: input.primaryKeyColumn,
      status: 'active',
      created_at: now,
      updated_at: now,
    }).returning('id');
    return typeof row === 'object' ? row.id : row;
  }

  async get(id: number): Promise<Integration | undefined> {
    const row = await this.db<IntegrationRow>('kbts_integrations').where({ id }).first();
    return row ? toIntegration(row) : undefined;
  }

  async list(): Promise<Integration[]> {
    return (await this.db<IntegrationRow>('kbts_integrations').orderBy('id')).map(toIntegration);
  }

  async listForAccount(accountId: number): Promise<Integration[]> {
    return (await this.db<IntegrationRow>('kbts_integrations').where({ account_id: accountId }).orderBy('id')).map(toIntegration);
  }

  /** The integrations that tweet this table's field from this account (at most one, but for marked twins), but `except`. */
  async listTweeting(accountId: number, tableName: string, tweetField: string, except: number | null = null): Promise<Integration[]> {
    const query = this.db<IntegrationRow>('kbts_integrations').where({ account_id: accountId, table_name: tableName, tweet_field: tweetField }).orderBy('id');
    if (except !== null) query.whereNot('id', except);
    return (await query).map(toIntegration);
  }

  /** The settings an admin may change after creation; account and table stay, so the trigger does too. */
  async update(id: number, changes: Partial<ChangeableSettings>, now: string): Promise<void> {
    await this.db('kbts_integrations').where({ id }).update({ ...settingsToRow(changes), updated_at: now });
  }

  async pause(id: number, reason: string, now: string): Promise<void> {
    await this.db('kbts_integrations').where({ id }).update({ status: 'paused', paused_reason: reason, updated_at: now });
  }

  /** Pauses every active integration of an account, e.g. when X refuses its tokens. */
  async pauseAccount(accountId: number, reason: string, now: string): Promise<number> {
    return this.db('kbts_integrations').where({ account_id: accountId, status: 'active' })
      .update({ status: 'paused', paused_reason: reason, updated_at: now });
  }

  async resume(id: number, now: string): Promise<void> {
    // A marked twin is only resumed once its twin is gone (setup checks): it is then no twin.
    await this.db('kbts_integrations').where({ id }).update({ status: 'active', paused_reason: null, last_error: null, duplicate_of: null, updated_at: now });
  }

  async recordPoll(id: number, now: string, error: string | null): Promise<void> {
    await this.db('kbts_integrations').where({ id }).update(
      error === null ? { last_poll_at: now } : { last_poll_at: now, last_error: error, last_error_at: now },
    );
  }

  /** A problem outside a reply poll (publishing on commit): shown, without moving "last poll". */
  async recordError(id: number, now: string, error: string): Promise<void> {
    await this.db('kbts_integrations').where({ id }).update({ last_error: error, last_error_at: now });
  }

  async remove(id: number): Promise<void> {
    await this.db('kbts_integrations').where({ id }).delete();
  }
}
