import type { Knex } from 'knex';
import type { ResponseMode } from '../kb/schema';

export const LONG_TEXT_POLICIES = ['reject', 'truncate', 'thread'] as const;
export type LongTextPolicy = (typeof LONG_TEXT_POLICIES)[number];
export type IntegrationStatus = 'active' | 'paused';

export interface Integration {
  id: number;
  accountId: number;
  tableName: string;
  primaryKeyColumn: string;
  tweetField: string;
  responseField: string;
  responseMode: ResponseMode;
  continueField: string;
  schedule: string;
  timeZone: string;
  longTextPolicy: LongTextPolicy;
  status: IntegrationStatus;
  pausedReason: string | null;
  lastPollAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  createdAt: string;
}

export type NewIntegration = Omit<Integration, 'id' | 'status' | 'pausedReason' | 'lastPollAt' | 'lastError' | 'lastErrorAt' | 'createdAt'>;

interface IntegrationRow {
  id: number;
  account_id: number;
  table_name: string;
  primary_key_column: string;
  tweet_field: string;
  response_field: string;
  response_mode: ResponseMode;
  continue_field: string;
  schedule: string;
  time_zone: string;
  long_text_policy: LongTextPolicy;
  status: IntegrationStatus;
  paused_reason: string | null;
  last_poll_at: string | null;
  last_error: string | null;
  last_error_at: string | null;
  created_at: string;
}

function toIntegration(row: IntegrationRow): Integration {
  return {
    id: row.id,
    accountId: row.account_id,
    tableName: row.table_name,
    primaryKeyColumn: row.primary_key_column,
    tweetField: row.tweet_field,
    responseField: row.response_field,
    responseMode: row.response_mode,
    continueField: row.continue_field,
    schedule: row.schedule,
    timeZone: row.time_zone,
    longTextPolicy: row.long_text_policy,
    status: row.status,
    pausedReason: row.paused_reason,
    lastPollAt: row.last_poll_at,
    lastError: row.last_error,
    lastErrorAt: row.last_error_at,
    createdAt: row.created_at,
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
      account_id: input.accountId,
      table_name: input.tableName,
      primary_key_column: input.primaryKeyColumn,
      tweet_field: input.tweetField,
      response_field: input.responseField,
      response_mode: input.responseMode,
      continue_field: input.continueField,
      schedule: input.schedule,
      time_zone: input.timeZone,
      long_text_policy: input.longTextPolicy,
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

  /** The settings an admin may change after creation; account and table stay, so the trigger does too. */
  async update(id: number, changes: Pick<Integration, 'tweetField' | 'responseField' | 'responseMode' | 'continueField' | 'schedule' | 'timeZone' | 'longTextPolicy'>, now: string): Promise<void> {
    await this.db('kbts_integrations').where({ id }).update({
      tweet_field: changes.tweetField,
      response_field: changes.responseField,
      response_mode: changes.responseMode,
      continue_field: changes.continueField,
      schedule: changes.schedule,
      time_zone: changes.timeZone,
      long_text_policy: changes.longTextPolicy,
      updated_at: now,
    });
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
    await this.db('kbts_integrations').where({ id }).update({ status: 'active', paused_reason: null, last_error: null, updated_at: now });
  }

  async recordPoll(id: number, now: string, error: string | null): Promise<void> {
    await this.db('kbts_integrations').where({ id }).update(
      error === null ? { last_poll_at: now } : { last_poll_at: now, last_error: error, last_error_at: now },
    );
  }

  async remove(id: number): Promise<void> {
    await this.db('kbts_integrations').where({ id }).delete();
  }
}
