import type { Knex } from 'knex';

/**
 * High-water marks of the product's own tables: what changed since the last look, in one query
 * that walks indexes only (primary keys, kbts_publications.updated_at) or small tables
 * (integrations, accounts). KB tables are never read here.
 */
export interface ChangeMarks {
  /** Newest communications row: a tweet sent or a reply received. */
  communications: string;
  /** Newest publication and newest publication state change. */
  publications: string;
  /** Integrations added, removed, edited, paused or resumed. */
  integrations: string;
  /** Integrations' last poll and last error. */
  polls: string;
  /** Accounts added, edited, tested or rate-limited. */
  accounts: string;
}

export type ChangeArea = keyof ChangeMarks;
export const CHANGE_AREAS: readonly ChangeArea[] = ['communications', 'publications', 'integrations', 'polls', 'accounts'];

const mark = (...parts: unknown[]) => parts.map((part) => (part === null || part === undefined ? '' : String(part))).join('|');

export class ChangeMarkStore {
  constructor(private readonly db: Knex) {}

  async read(): Promise<ChangeMarks> {
    const db = this.db;
    const row = await db.select({
      communications: db('kbts_communications').max('id'),
      publication_id: db('kbts_publications').max('id'),
      publication_updated: db('kbts_publications').max('updated_at'),
      integration_count: db('kbts_integrations').count('*'),
      integration_updated: db('kbts_integrations').max('updated_at'),
      integration_polled: db('kbts_integrations').max('last_poll_at'),
      integration_error: db('kbts_integrations').max('last_error_at'),
      account_count: db('kbts_accounts').count('*'),
      account_updated: db('kbts_accounts').max('updated_at'),
      account_limited: db('kbts_accounts').max('rate_limited_until'),
    }).first() as Record<string, unknown>;
    return {
      communications: mark(row.communications),
      publications: mark(row.publication_id, row.publication_updated),
      integrations: mark(row.integration_count, row.integration_updated),
      polls: mark(row.integration_polled, row.integration_error),
      accounts: mark(row.account_count, row.account_updated, row.account_limited),
    };
  }
}
