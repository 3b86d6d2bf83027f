import type { Knex } from 'knex';

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

export async function countRecords(db: Knex, table: string): Promise<number> {
  const row = await db(table).count({ count: '*' }).first();
  return Number(row?.count ?? 0);
}
