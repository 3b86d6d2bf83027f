import type BetterSqlite3 from 'better-sqlite3';
import type { Knex } from 'knex';
import type { PoolClient } from 'pg';
import { isPostgres } from './dialect';

export type BulkValue = string | number | boolean | null;

export interface BulkInsert {
  /** Table and column names: the product's own, never from a request. */
  table: string;
  columns: readonly string[];
  rows: BulkValue[][];
  /** The unique columns whose conflict leaves the existing row as it is. */
  onConflictDoNothing: readonly string[];
  /** A column of each row actually inserted, given back. */
  returning: string;
}

// Rows per statement: at most a few thousand bound values, well below either database's limit.
const MAX_VALUES_PER_STATEMENT = 2000;

/**
 * Many rows in few statements, sent straight to the driver on the connection knex holds (the
 * transaction's, when `db` is one). At thousands of rows per poll, knex's own formatting of each
 * bound value cost more than the database's insert; statements of one size repeat, so SQLite's
 * prepared ones are kept (src/db/statement-cache.ts). Returns the `returning` column of the rows
 * inserted.
 */
export async function bulkInsert(db: Knex, insert: BulkInsert): Promise<unknown[]> {
  if (insert.rows.length === 0) return [];
  const postgres = isPostgres(db);
  const perStatement = Math.max(1, Math.floor(MAX_VALUES_PER_STATEMENT / insert.columns.length));
  const connection = await db.client.acquireConnection();
  try {
    const inserted: unknown[] = [];
    for (let start = 0; start < insert.rows.length; start += perStatement) {
      const rows = insert.rows.slice(start, start + perStatement);
      const sql = insertSql(insert, rows.length, postgres);
      const values = rows.flat().map((value) => (!postgres && typeof value === 'boolean' ? Number(value) : value));
      const result = postgres
        ? (await (connection as PoolClient).query(sql, values)).rows
        : (connection as BetterSqlite3.Database).prepare(sql).all(values);
      for (const row of result as Array<Record<string, unknown>>) inserted.push(row[insert.returning]);
    }
    return inserted;
  } finally {
    await db.client.releaseConnection(connection);
  }
}

function insertSql(insert: BulkInsert, rowCount: number, postgres: boolean): string {
  let n = 0;
  const placeholder = postgres ? () => `$${++n}` : () => '?';
  const row = () => `(${insert.columns.map(placeholder).join(', ')})`;
  return `INSERT INTO ${insert.table} (${insert.columns.join(', ')}) VALUES ${Array.from({ length: rowCount }, row).join(', ')} `
    + `ON CONFLICT (${insert.onConflictDoNothing.join(', ')}) DO NOTHING RETURNING ${insert.returning}`;
}
