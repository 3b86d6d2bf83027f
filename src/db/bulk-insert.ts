import type BetterSqlite3 from 'better-sqlite3';
import type { Knex } from 'knex';
import type { PoolClient } from 'pg';
import { isPostgres } from './dialect';

export type BulkValue = string | number | boolean | null;

export interface BulkInsert {
  /** Table and column names: the product's own, never from a request. */
  table: string;
  columns: readonly string[];
  /** Handed over: on SQLite their booleans become 0 and 1 in place (no copy of each row). */
  rows: BulkValue[][];
  /** The unique columns whose conflict leaves the existing row as it is. */
  onConflictDoNothing: readonly string[];
  /** One of `columns`: its value in each row actually inserted is given back. */
  returning: string;
}

// PostgreSQL: rows per statement, at most a few thousand bound values (well below its limit).
const MAX_VALUES_PER_STATEMENT = 2000;

/**
 * Many rows, sent straight to the driver on the connection knex holds (the transaction's, when
 * `db` is one): at thousands of rows per poll, knex's own formatting of each bound value cost
 * more than the database's insert. SQLite runs one kept prepared statement per row (cheaper than
 * one statement of many rows there); PostgreSQL takes many rows per statement, a round trip each.
 * Returns the `returning` column's value of each row inserted (not already there).
 */
export async function bulkInsert(db: Knex, insert: BulkInsert): Promise<BulkValue[]> {
  if (insert.rows.length === 0) return [];
  const connection = await db.client.acquireConnection();
  try {
    return isPostgres(db) ? await insertOnPostgres(connection as PoolClient, insert) : insertOnSqlite(connection as BetterSqlite3.Database, insert);
  } finally {
    await db.client.releaseConnection(connection);
  }
}

function insertOnSqlite(connection: BetterSqlite3.Database, insert: BulkInsert): BulkValue[] {
  const changes = runEachRowOn(connection, `${insertInto(insert)} VALUES (${insert.columns.map(() => '?').join(', ')}) ${onConflict(insert)}`, insert.rows);
  const at = insert.columns.indexOf(insert.returning);
  return insert.rows.filter((_, index) => changes[index] > 0).map((row) => row[at]);
}

function runEachRowOn(connection: BetterSqlite3.Database, sql: string, rows: BulkValue[][]): number[] {
  const statement = connection.prepare(sql);
  const runAll = () => rows.map((row) => statement.run(withoutBooleans(row)).changes);
  // Outside a transaction each row would be a commit of its own (one row is one either way).
  return connection.inTransaction || rows.length === 1 ? runAll() : connection.transaction(runAll)();
}

/** better-sqlite3 binds no booleans (SQLite keeps them as 0 and 1): changed in place, as rows are handed over. */
function withoutBooleans(row: BulkValue[]): BulkValue[] {
  for (let i = 0; i < row.length; i++) {
    const value = row[i];
    if (typeof value === 'boolean') row[i] = value ? 1 : 0;
  }
  return row;
}

/**
 * SQLite only: one statement (the product's own SQL, `?` placeholders) run once per row of
 * values, kept prepared, in the transaction `db` is (or one of its own). The rows are handed
 * over: their booleans become 0 and 1 in place. Returns the rows each run changed. For the hot
 * batch updates, where knex's building of one CASE statement per batch cost more than SQLite's
 * running of a statement per row.
 */
export async function runEachRowOnSqlite(db: Knex, sql: string, rows: BulkValue[][]): Promise<number[]> {
  if (isPostgres(db)) throw new Error('runEachRowOnSqlite is for SQLite: PostgreSQL takes a batch in one statement');
  if (rows.length === 0) return [];
  const connection = await db.client.acquireConnection();
  try {
    return runEachRowOn(connection as BetterSqlite3.Database, sql, rows);
  } finally {
    await db.client.releaseConnection(connection);
  }
}

async function insertOnPostgres(connection: PoolClient, insert: BulkInsert): Promise<BulkValue[]> {
  const perStatement = Math.max(1, Math.floor(MAX_VALUES_PER_STATEMENT / insert.columns.length));
  const inserted: BulkValue[] = [];
  for (let start = 0; start < insert.rows.length; start += perStatement) {
    const rows = insert.rows.slice(start, start + perStatement);
    let n = 0;
    const values = rows.map(() => `(${insert.columns.map(() => `$${++n}`).join(', ')})`).join(', ');
    const result = await connection.query(`${insertInto(insert)} VALUES ${values} ${onConflict(insert)} RETURNING ${insert.returning}`, rows.flat());
    for (const row of result.rows as Array<Record<string, BulkValue>>) inserted.push(row[insert.returning]);
  }
  return inserted;
}

const insertInto = (insert: BulkInsert) => `INSERT INTO ${insert.table} (${insert.columns.join(', ')})`;
const onConflict = (insert: BulkInsert) => `ON CONFLICT (${insert.onConflictDoNothing.join(', ')}) DO NOTHING`;
