import type { Knex } from 'knex';
import { runEachRowOnSqlite } from '../db/bulk-insert';
import { describeKbTable, identifier, isPostgres, quoteIdentifier, type TableInfo } from '../db/dialect';
import { explainRefusal } from './refusals';

/**
 * A record as read from the KB. Rows come from the database drivers as plain objects; every map
 * this module builds from KB names (values to write) is prototype-less, so a column named
 * `constructor` or `__proto__` is a column like any other.
 */
export type KbRecord = Record<string, unknown>;

export interface RecordLocation {
  table: string;
  primaryKeyColumn: string;
}

/*
 * Every table and column name below reaches SQL through `identifier()`: one quoted identifier,
 * never a string knex would split at `.` or ` as ` (or through `quoteIdentifier()` in SQL that
 * goes straight to SQLite, never past knex). Values are always bound.
 */

/** Which columns a read gives back: all of them (the default), or only these and the key. */
export interface ReadColumns {
  /**
   * The columns the caller uses. Those the table no longer has are left out of the record (so a
   * caller's `column in record` still tells a dropped column), and the others, a BLOB among them,
   * are never selected.
   */
  columns?: readonly string[];
}

/**
 * Records of a table by key, every column included whatever its name, or only the columns asked
 * for. pg keeps a `__proto__` column as an own property; for better-sqlite3 the columns are read
 * from the catalog (a cheap pragma) so each is selected under an alias (see selectColumns). When
 * the table cannot be described (it was dropped), the plain query runs and fails with the
 * database's words.
 */
async function selectByKeys(db: Knex, location: RecordLocation, keys: string[], options: ReadColumns = {}): Promise<KbRecord[]> {
  const key = identifier(db, location.primaryKeyColumn);
  if (options.columns) {
    const wanted = [...new Set([location.primaryKeyColumn, ...options.columns])];
    const present = await presentColumns(db, location.table, wanted);
    const names = present ?? wanted;
    const rows = await selectNamed(db, location.table, names).whereIn(key as unknown as string, keys);
    return rows.map((row: Record<string, unknown>) => toRecord(names, row));
  }
  const table = isPostgres(db) ? null : await describeKbTable(db, location.table);
  if (!table) return db.from(identifier(db, location.table)).whereIn(key as unknown as string, keys);
  const rows = await selectColumns(db, table).whereIn(key as unknown as string, keys);
  return rows.map((row: Record<string, unknown>) => toRecord(columnNames(table), row));
}

/**
 * Which of these columns the table has, in their order; null when the table is not there. On
 * PostgreSQL one look at pg_attribute (information_schema, which describeKbTable reads, costs
 * two slower queries), so a read by named columns costs no more than a pragma does on SQLite.
 */
async function presentColumns(db: Knex, table: string, wanted: string[]): Promise<string[] | null> {
  let names: string[];
  if (isPostgres(db)) {
    const found = (await db.raw(
      `SELECT attname FROM pg_attribute
       WHERE attrelid = to_regclass(quote_ident(current_schema()) || '.' || quote_ident(?)) AND attnum > 0 AND NOT attisdropped`,
      [table],
    )).rows as Array<{ attname: string }>;
    names = found.map((row) => row.attname);
  } else {
    names = (await describeKbTable(db, table))?.columns.map((column) => column.name) ?? [];
  }
  if (names.length === 0) return null;
  const have = new Set(names);
  return wanted.filter((name) => have.has(name));
}

export async function readRecord(db: Knex, location: RecordLocation, key: string, options: ReadColumns = {}): Promise<KbRecord | undefined> {
  return (await selectByKeys(db, location, [key], options))[0];
}

/** Many records in one query, keyed by their primary key as text. */
export async function readRecords(db: Knex, location: RecordLocation, keys: string[], options: ReadColumns = {}): Promise<Map<string, KbRecord>> {
  const found = new Map<string, KbRecord>();
  const CHUNK = 500; // below SQLite's bound-parameter limit
  for (let i = 0; i < keys.length; i += CHUNK) {
    for (const row of await selectByKeys(db, location, keys.slice(i, i + CHUNK), options)) found.set(String(row[location.primaryKeyColumn]), row);
  }
  return found;
}

export async function writeField(db: Knex, location: RecordLocation, key: string, field: string, value: string): Promise<number> {
  return updateWhere(db, location.table, [[field, value]], location.primaryKeyColumn, [key]);
}

/**
 * One field of many records, each its own value: on PostgreSQL `SET field = CASE key WHEN … THEN
 * … END`, a statement per chunk instead of a round trip per record.
 */
export async function writeFields(db: Knex, location: RecordLocation, field: string, values: Array<[key: string, value: string]>): Promise<void> {
  if (!isPostgres(db)) {
    // SQLite: a kept statement per record is cheaper than knex building the CASE (see runEachRowOnSqlite).
    const update = `UPDATE ${quoteIdentifier(db, location.table)} SET ${quoteIdentifier(db, field)} = ? WHERE ${quoteIdentifier(db, location.primaryKeyColumn)} = ?`;
    await runEachRowOnSqlite(db, update, values.map(([key, value]) => [value, key]));
    return;
  }
  const CHUNK = 200; // three bound parameters per record, well below SQLite's limit
  for (let i = 0; i < values.length; i += CHUNK) {
    const chunk = values.slice(i, i + CHUNK);
    const byKey = db.raw(`CASE ? ${chunk.map(() => 'WHEN ? THEN ?').join(' ')} END`, [identifier(db, location.primaryKeyColumn), ...chunk.flat()]);
    await updateWhere(db, location.table, [[field, byKey]], location.primaryKeyColumn, chunk.map(([key]) => key));
  }
}

/** `UPDATE table SET a = ?, b = ? WHERE key IN (…)`, each name one quoted identifier. */
async function updateWhere(db: Knex, table: string, assignments: Array<[column: string, value: unknown]>, keyColumn: string, keys: string[]): Promise<number> {
  if (assignments.length === 0 || keys.length === 0) return 0;
  const sets = assignments.map(() => '? = ?').join(', ');
  const bindings = [
    identifier(db, table),
    ...assignments.flatMap(([column, value]) => [identifier(db, column), value]),
    identifier(db, keyColumn),
    ...keys,
  ];
  const result = await db.raw(`UPDATE ? SET ${sets} WHERE ? IN (${keys.map(() => '?').join(', ')})`, bindings as Knex.RawBinding[]);
  // better-sqlite3 answers { changes }, pg a result with rowCount.
  return Number((result as { changes?: number; rowCount?: number }).changes ?? (result as { rowCount?: number }).rowCount ?? 0);
}

export async function countRecords(db: Knex, table: string): Promise<number> {
  const row = await db.from(identifier(db, table)).count({ count: '*' }).first();
  return Number(row?.count ?? 0);
}

/** A value a record field may take from a form or the JSON API. */
export type FieldValue = string | number | boolean | null;

/** Column name → value, without a prototype: any column name is an own key and nothing else is. */
export type FieldValues = Map<string, FieldValue>;

/**
 * The table's columns under positional aliases, read back into prototype-less records: a driver
 * building rows as plain objects drops a column named `__proto__` (better-sqlite3 does).
 */
function selectColumns(db: Knex, table: TableInfo): Knex.QueryBuilder {
  return selectNamed(db, table.name, columnNames(table));
}

function selectNamed(db: Knex, table: string, columns: readonly string[]): Knex.QueryBuilder {
  return db.from(identifier(db, table)).select(columns.map((column, index) => db.raw(`? AS kbts_c${index}`, [identifier(db, column)])));
}

const columnNames = (table: TableInfo) => table.columns.map((column) => column.name);

function toRecord(columns: readonly string[], row: Record<string, unknown>): KbRecord {
  const record: KbRecord = Object.create(null);
  columns.forEach((column, index) => { record[column] = row[`kbts_c${index}`]; });
  return record;
}

/** One page of a table, newest first when the table has a single-column primary key. */
export async function listRecords(db: Knex, table: TableInfo, page: { limit: number; offset: number }): Promise<KbRecord[]> {
  const query = selectColumns(db, table).limit(page.limit).offset(page.offset);
  if (table.primaryKey.length === 1) query.orderByRaw('? DESC', [identifier(db, table.primaryKey[0])]);
  return (await query).map((row: Record<string, unknown>) => toRecord(columnNames(table), row));
}

/** One record of a table with a single-column primary key, every column included whatever its name. */
export async function readTableRecord(db: Knex, table: TableInfo, key: string): Promise<KbRecord | undefined> {
  const row = await selectColumns(db, table).whereRaw('? = ?', [identifier(db, table.primaryKey[0]), key]).first();
  return row ? toRecord(columnNames(table), row) : undefined;
}

/** A constraint the database enforced becomes a ValidationError on its field; other failures pass through. */
async function refusalsInWords<T>(table: TableInfo, values: ReadonlyMap<string, unknown>, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    throw explainRefusal(error, table, values) ?? error;
  }
}

/**
 * Inserts a record with plain SQL, as any other writer would: the capture trigger sees it.
 * Column names must come from the table's introspection. Returns the new record's key. A
 * constraint the record breaks is thrown as a ValidationError naming the field, without SQL.
 */
export async function insertRecord(db: Knex, table: TableInfo, given: FieldValues | Record<string, FieldValue>): Promise<string | null> {
  const values = given instanceof Map ? given : new Map(Object.entries(given));
  return refusalsInWords(table, values, () => insertValues(db, table, values));
}

async function insertValues(db: Knex, table: TableInfo, values: FieldValues): Promise<string | null> {
  const columns = [...values.keys()];
  const into = columns.length === 0
    ? db.raw('? DEFAULT VALUES', [identifier(db, table.name)])
    : db.raw(`? (${columns.map(() => '?').join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`, [
      identifier(db, table.name), ...columns.map((column) => identifier(db, column)), ...columns.map((column) => values.get(column) as FieldValue),
    ]);
  if (table.primaryKey.length !== 1) {
    await db.raw('INSERT INTO ?', [into]);
    return null;
  }
  const result = await db.raw('INSERT INTO ? RETURNING ? AS kbts_key', [into, identifier(db, table.primaryKey[0])]);
  const rows = (Array.isArray(result) ? result : (result as { rows: KbRecord[] }).rows) as KbRecord[];
  const value = rows[0]?.kbts_key;
  return value === undefined || value === null ? null : String(value);
}

export async function updateRecord(db: Knex, table: TableInfo, key: string, given: FieldValues | Record<string, FieldValue>): Promise<number> {
  const values = given instanceof Map ? given : new Map(Object.entries(given));
  return refusalsInWords(table, values, () => updateWhere(db, table.name, [...values.entries()], table.primaryKey[0], [key]));
}
