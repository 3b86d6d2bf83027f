import type BetterSqlite3 from 'better-sqlite3';
import type { Knex } from 'knex';
import { describeKbTable, identifier, isPostgres, quoteIdentifier } from '../db/dialect';
import { hasBlobRange } from '../db/sqlite-blob-range';
import { readByteaRange } from './bytea-range';
import type { RecordLocation } from './records';

/** One column of one record: where a BLOB is read from. */
export interface BlobLocation {
  table: string;
  keyColumn: string;
  key: string;
  column: string;
}

/** A BLOB found changed (another length, another type, or its record gone) since it was measured. */
export class BlobChangedError extends Error {}

/**
 * A BLOB / bytea value left in its row: its length and first bytes as measured, and each range
 * read with SQL when it is needed, so this process holds one range at a time, never the whole
 * value. Each read measures the length again: a value of another length was changed since, and is
 * refused rather than read half old, half new.
 *
 * On SQLite a range is read with incremental BLOB I/O (`kbts_blob_range`, the project's own
 * extension: see native/kbts_blob_range.c), which reads only the range's pages. Without it (not
 * built, or a table without rowids) `substr` is used, and SQLite loads the whole value into its
 * own short-lived memory for each range. PostgreSQL slices on the server (bytea-range.ts).
 */
export class StoredBlob {
  constructor(
    private readonly db: Knex, readonly location: BlobLocation, readonly size: number, readonly head: Buffer,
    /** SQLite: the row can be named by its rowid, which incremental BLOB I/O needs. */
    private readonly byRowid = false,
  ) {}

  /** How messages name it. */
  get description(): string {
    return `the BLOB in column '${this.location.column}' of record ${this.location.key}`;
  }

  /** `length` bytes from `offset` (counted from 0). */
  async read(offset: number, length: number): Promise<Buffer> {
    const { db, location } = this;
    const row = isPostgres(db) ? await readByteaRange(db, location, offset, length) : await this.readOnSqlite(offset, length);
    if (!row) throw new BlobChangedError(`the record ${location.key} was deleted while ${this.description} was read`);
    const now = row.size === null ? null : Number(row.size);
    if (now !== this.size) {
      throw new BlobChangedError(now === null
        ? `${this.description} was emptied or replaced by text while it was read (it held ${this.size} bytes)`
        : `${this.description} changed while it was read: it holds ${now} bytes now, ${this.size} when it was checked`);
    }
    const bytes = row.part ?? Buffer.alloc(0);
    if (bytes.length !== Math.min(length, Math.max(0, this.size - offset))) {
      throw new BlobChangedError(`${this.description} gave ${bytes.length} bytes at ${offset} where ${Math.min(length, this.size - offset)} were expected`);
    }
    return bytes;
  }

  private async readOnSqlite(offset: number, length: number): Promise<{ size: number | null; part: Buffer | null } | undefined> {
    const { db, location } = this;
    if (this.byRowid) {
      const connection = await db.client.acquireConnection() as BetterSqlite3.Database;
      try {
        if (hasBlobRange(connection)) return readRangeByRowid(db, connection, location, offset, length);
      } finally {
        await db.client.releaseConnection(connection);
      }
    }
    const column = identifier(db, location.column);
    return db.from(identifier(db, location.table))
      .select([db.raw("CASE WHEN typeof(?) = 'blob' THEN length(?) END AS size", [column, column]), db.raw('substr(?, ?, ?) AS part', [column, offset + 1, length])])
      .whereRaw('? = ?', [identifier(db, location.keyColumn), location.key])
      .first() as Promise<{ size: number | null; part: Buffer | null } | undefined>;
  }
}

/** The length and one range, in one statement on the connection (length() of a BLOB reads no pages of it). */
function readRangeByRowid(db: Knex, connection: BetterSqlite3.Database, location: BlobLocation, offset: number, length: number) {
  const column = quoteIdentifier(db, location.column);
  const isBlob = `typeof(${column}) = 'blob'`;
  const sql = `SELECT CASE WHEN ${isBlob} THEN length(${column}) END AS size,
    CASE WHEN ${isBlob} THEN kbts_blob_range(?, ?, _rowid_, CAST(? AS INTEGER), CAST(? AS INTEGER)) END AS part
    FROM ${quoteIdentifier(db, location.table)} WHERE ${quoteIdentifier(db, location.keyColumn)} = ?`;
  return connection.prepare(sql).get(location.table, location.column, offset, length, location.key) as { size: number | null; part: Buffer | null } | undefined;
}

/**
 * Whether SQLite can name this table's rows by rowid: not in a table WITHOUT ROWID, nor where a
 * column of its own is called `_rowid_` (the name would mean the column).
 */
async function rowsHaveRowids(db: Knex, table: string, columns: string[]): Promise<boolean> {
  if (columns.some((name) => name.toLowerCase() === '_rowid_')) return false;
  const [listed] = await db.raw("SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ?", [table]) as Array<{ wr: number }>;
  return listed !== undefined && listed.wr === 0;
}

/** A record's field as read without its bytes: a BLOB comes back as a StoredBlob, any other value as it is. */
export type StoredField =
  | { found: 'no-record' }
  | { found: 'no-column' }
  | { found: 'value'; value: StoredBlob | unknown };

/**
 * One field of one record, a BLOB among them left in the database: its length through SQL
 * (`length` on SQLite, `octet_length` on PostgreSQL) and its first `headBytes` bytes (for its
 * type), the rest read by range later. Nothing else of the record is selected.
 */
export async function readFieldKeepingBlob(db: Knex, location: RecordLocation, key: string, column: string, headBytes: number, changedOnce = false): Promise<StoredField> {
  const table = await describeKbTable(db, location.table);
  if (!table) throw new Error(`table '${location.table}' cannot be read: it no longer exists`);
  const described = table.columns.find((candidate) => candidate.name === column);
  if (!described) return { found: 'no-column' };
  const blobAt: BlobLocation = { table: location.table, keyColumn: location.primaryKeyColumn, key, column };
  const quoted = identifier(db, column);
  const query = db.from(identifier(db, location.table)).whereRaw('? = ?', [identifier(db, location.primaryKeyColumn), key]);
  if (isPostgres(db)) {
    // PostgreSQL's columns have one type: bytea is a BLOB, anything else is read as it is.
    if (!/^bytea\b/i.test(described.type)) {
      const row = await query.select(db.raw('? AS value', [quoted])).first() as { value: unknown } | undefined;
      return row ? { found: 'value', value: row.value } : { found: 'no-record' };
    }
    const row = await query.select([db.raw('octet_length(?) AS size', [quoted]), db.raw('substring(? from 1 for ?::integer) AS head', [quoted, headBytes])])
      .first() as { size: number | string | null; head: Buffer | null } | undefined;
    if (!row) return { found: 'no-record' };
    if (row.size === null || row.head === null) return { found: 'value', value: null };
    return { found: 'value', value: new StoredBlob(db, blobAt, Number(row.size), row.head) };
  }
  // SQLite keeps a type per value, whatever the column says: a BLOB is told by typeof. Its head
  // is read as a range (substr here would load the whole value).
  const row = await query.select([
    db.raw('typeof(?) AS kind', [quoted]),
    db.raw('length(?) AS size', [quoted]),
    db.raw("CASE WHEN typeof(?) = 'blob' THEN NULL ELSE ? END AS value", [quoted, quoted]),
  ]).first() as { kind: string; size: number | null; value: unknown } | undefined;
  if (!row) return { found: 'no-record' };
  if (row.kind !== 'blob') return { found: 'value', value: row.value };
  const size = Number(row.size);
  const byRowid = await rowsHaveRowids(db, location.table, table.columns.map((candidate) => candidate.name));
  let head: Buffer;
  try {
    head = await new StoredBlob(db, blobAt, size, Buffer.alloc(0), byRowid).read(0, headBytes);
  } catch (error) {
    // Written between the two reads: measured again, once (a value that keeps changing is refused by the caller's read).
    if (error instanceof BlobChangedError && !changedOnce) return readFieldKeepingBlob(db, location, key, column, headBytes, true);
    throw error;
  }
  return { found: 'value', value: new StoredBlob(db, blobAt, size, head, byRowid) };
}
