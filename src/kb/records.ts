import type { Knex } from 'knex';
import type { TableInfo } from '../db/dialect';

export type KbRecord = Record<string, unknown>;

export interface RecordLocation {
  table: string;
  primaryKeyColumn: string;
}

export async function readRecord(db: Knex, location: RecordLocation, key: string): Promise<KbRecord | undefined> {
  return db(location.table).where(location.primaryKeyColumn, key).first();
}

/** Many records in one query, keyed by their primary key as text. */
export async function readRecords(db: Knex, location: RecordLocation, keys: string[]): Promise<Map<string, KbRecord>> {
  const found = new Map<string, KbRecord>();
  const CHUNK = 500; // below SQLite's bound-parameter limit
  for (let i = 0; i < keys.length; i += CHUNK) {
    const rows: KbRecord[] = await db(location.table).whereIn(location.primaryKeyColumn, keys.slice(i, i + CHUNK));
    for (const row of rows) found.set(String(row[location.primaryKeyColumn]), row);
  }
  return found;
}

export async function writeField(db: Knex, location: RecordLocation, key: string, field: string, value: string): Promise<number> {
  return db(location.table).where(location.primaryKeyColumn, key).update({ [field]: value });
}

/**
 * One field of many records, each its own value: `SET field = CASE key WHEN … THEN … END`, a
 * statement per chunk instead of one per record.
 */
export async function writeFields(db: Knex, location: RecordLocation, field: string, values: Array<[key: string, value: string]>): Promise<void> {
  const CHUNK = 200; // three bound parameters per record, well below SQLite's limit
  for (let i = 0; i < values.length; i += CHUNK) {
    const chunk = values.slice(i, i + CHUNK);
    const byKey = db.raw(`CASE ?? ${chunk.map(() => 'WHEN ? THEN ?').join(' ')} END`, [location.primaryKeyColumn, ...chunk.flat()]);
    await db(location.table).whereIn(location.primaryKeyColumn, chunk.map(([key]) => key)).update({ [field]: byKey });
  }
}

export async function countRecords(db: Knex, table: string): Promise<number> {
  const row = await db(table).count({ count: '*' }).first();
  return Number(row?.count ?? 0);
}

/** A value a record field may take from a form or the JSON API. */
export type FieldValue = string | number | boolean | null;

/** One page of a table, newest first when the table has a single-column primary key. */
export async function listRecords(db: Knex, table: TableInfo, page: { limit: number; offset: number }): Promise<KbRecord[]> {
  const query = db(table.name).select('*').limit(page.limit).offset(page.offset);
  if (table.primaryKey.length === 1) query.orderBy(table.primaryKey[0], 'desc');
  return query;
}

/**
 * Inserts a record with plain SQL, as any other writer would: the capture trigger sees it.
 * Column names must come from the table's introspection. Returns the new record's key.
 */
export async function insertRecord(db: Knex, table: TableInfo, values: Record<string, FieldValue>): Promise<string | null> {
  if (table.primaryKey.length !== 1) {
    await db(table.name).insert(values);
    return null;
  }
  const key = table.primaryKey[0];
  const [row] = await db(table.name).insert(values).returning(key);
  const value = typeof row === 'object' && row !== null ? (row as KbRecord)[key] : row;
  return value === undefined || value === null ? null : String(value);
}

export async function updateRecord(db: Knex, table: TableInfo, key: string, values: Record<string, FieldValue>): Promise<number> {
  if (Object.keys(values).length === 0) return 0;
  return db(table.name).where(table.primaryKey[0], key).update(values);
}
