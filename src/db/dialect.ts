import type { Knex } from 'knex';

/**
 * Every SQL difference between SQLite and PostgreSQL lives here: catalog queries and the
 * capture trigger. Identifiers reaching this module come from introspection, never from a
 * request, and are still quoted.
 */

export function isPostgres(db: Knex): boolean {
  return db.client.config.client === 'pg';
}

// Any fixed number: it names this project's migration lock among PostgreSQL advisory locks.
const MIGRATION_LOCK_KEY = 4_921_773_001;

const MIGRATION_RACE = /already exists|already locked/i;

/**
 * Several workers starting at once would race to create knex's own migration tables (knex
 * refuses, rather than waits, when they collide). PostgreSQL serializes them with an advisory
 * lock held on a connection of its own. SQLite has no such lock to hold across knex's own
 * connection, so a run that lost the race waits a moment and runs again (it then finds the
 * work done, or knex's lock row taken until it is).
 */
export async function withMigrationLock<T>(db: Knex, work: () => Promise<T>): Promise<T> {
  if (!isPostgres(db)) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (error) {
        const message = String((error as Error)?.message);
        if (attempt >= 50 || !MIGRATION_RACE.test(message) || /readonly|disk/i.test(message)) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100));
      }
    }
  }
  const connection = await db.client.acquireConnection();
  try {
    await connection.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      return await work();
    } finally {
      await connection.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await db.client.releaseConnection(connection);
  }
}

export interface ColumnInfo {
  name: string;
  /** The declared type as the database reports it, e.g. "VARCHAR(40)", "integer", "text". */
  type: string;
  nullable: boolean;
  /** Character limit for VARCHAR(n)-like columns; null when unlimited or not text. */
  maxLength: number | null;
  isText: boolean;
  /** The column has a DEFAULT, so an insert may leave it out. */
  hasDefault: boolean;
}

export interface TableInfo {
  name: string;
  columns: ColumnInfo[];
  primaryKey: string[];
}

/**
 * A KB name (table or column) as exactly one quoted SQL identifier, for SQL handed to knex:
 * double quotes are doubled (the same rule on SQLite and PostgreSQL), so `.`, ` as `, quotes
 * and backticks stay part of the name. knex never parses it. On PostgreSQL knex turns every `?`
 * of a statement into a numbered parameter and drops backslashes before it, so a name holding
 * `?` or a backslash is written in PostgreSQL's Unicode form (`U&"a\\003Fb"` is `a?b`), which holds
 * neither. SQLite gets the statement as written. Use it only in SQL without `?` bindings of its
 * own (knex would take a `?` in a SQLite name for one): to combine a name with values, pass
 * `identifier()` as a binding instead.
 */
export function quoteIdentifier(db: Knex, name: string): string {
  if (typeof name !== 'string' || name.includes('\0')) throw new Error('a table or column name must be text without NUL characters');
  const quoted = `"${name.replace(/"/g, '""')}"`;
  if (!isPostgres(db) || !/[?\\]/.test(name)) return quoted;
  return `U&${quoted.replace(/\\/g, '\\\\').replace(/\?/g, '\\003F')}`;
}

/**
 * The same single quoted identifier as a knex Raw, for query-builder calls (`from`, `select`,
 * `where`, `whereIn`) and as a binding of raw SQL: knex inlines a Raw as written, never
 * splitting it at `.` or ` as ` the way it does a plain string.
 */
export function identifier(db: Knex, name: string): Knex.Raw {
  return db.raw(quoteIdentifier(db, name));
}

const TEXT_TYPE = /char|clob|text|string|citext/i;

function classifyType(type: string): { isText: boolean; maxLength: number | null } {
  // SQLite columns declared without a type store text as it is, so they take replies too.
  const isText = type.trim() === '' || TEXT_TYPE.test(type);
  const limit = /\(\s*(\d+)\s*\)/.exec(type);
  return { isText, maxLength: isText && limit ? Number(limit[1]) : null };
}

export async function listKbTables(db: Knex): Promise<string[]> {
  const rows: Array<{ name: string }> = isPostgres(db)
    ? (await db.raw(
      `SELECT table_name AS name FROM information_schema.tables
       WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`,
    )).rows
    : await db.raw(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name`);
  // The product's own tables, in any letter case (SQLite's names ignore it).
  return rows.map((row) => row.name).filter((name) => !/^kbts_/i.test(name));
}

export async function describeKbTable(db: Knex, table: string): Promise<TableInfo | null> {
  if (isPostgres(db)) return describePostgresTable(db, table);
  const rows: Array<{ name: string; type: string; notnull: number; pk: number; dflt_value: string | null }> =
    // The name is a bound value here, never SQL text.
    await db.raw('SELECT name, type, "notnull", pk, dflt_value FROM pragma_table_info(?)', [table]);
  if (rows.length === 0) return null;
  const primaryKey = rows.filter((row) => row.pk > 0).sort((a, b) => a.pk - b.pk).map((row) => row.name);
  return {
    name: table,
    primaryKey,
    columns: rows.map((row) => ({
      name: row.name,
      type: row.type,
      nullable: row.notnull === 0 && row.pk === 0,
      hasDefault: row.dflt_value !== null,
      ...classifyType(row.type),
    })),
  };
}

async function describePostgresTable(db: Knex, table: string): Promise<TableInfo | null> {
  const columns = (await db.raw(
    `SELECT column_name, data_type, character_maximum_length, is_nullable, column_default
     FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?
     ORDER BY ordinal_position`,
    [table],
  )).rows as Array<{ column_name: string; data_type: string; character_maximum_length: number | null; is_nullable: string; column_default: string | null }>;
  if (columns.length === 0) return null;
  const keys = (await db.raw(
    `SELECT kcu.column_name FROM information_schema.table_constraints tc
     JOIN information_schema.key_column_usage kcu
       ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema
     WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = current_schema() AND tc.table_name = ?
     ORDER BY kcu.ordinal_position`,
    [table],
  )).rows as Array<{ column_name: string }>;
  return {
    name: table,
    primaryKey: keys.map((key) => key.column_name),
    columns: columns.map((column) => ({
      name: column.column_name,
      type: column.character_maximum_length ? `${column.data_type}(${column.character_maximum_length})` : column.data_type,
      nullable: column.is_nullable === 'YES',
      hasDefault: column.column_default !== null,
      isText: TEXT_TYPE.test(column.data_type),
      maxLength: column.character_maximum_length ?? null,
    })),
  };
}

/**
 * `column IN (the values)` with the whole list as ONE bound value (a JSON array on SQLite, an
 * array on PostgreSQL): a poll matches thousands of ids, and knex's building of a placeholder per
 * value, in chunks under SQLite's limit, cost more than the lookups. `column` is the product's
 * own name, never from a request.
 */
export function whereInList<T extends Knex.QueryBuilder>(db: Knex, query: T, column: string, values: readonly string[]): T {
  return (isPostgres(db)
    ? query.whereRaw(`${column} = ANY(?::text[])`, [values as string[]])
    : query.whereRaw(`${column} IN (SELECT value FROM json_each(?))`, [JSON.stringify(values)])) as T;
}

/**
 * Locks the rows a query selects, skipping rows another transaction holds, so a worker never
 * waits on another: PostgreSQL's FOR UPDATE SKIP LOCKED. SQLite has one writer at a time and
 * no row locks, so the query is left as it is there.
 */
export function forUpdateSkipLocked<T extends Knex.QueryBuilder>(db: Knex, query: T): T {
  return isPostgres(db) ? (query.forUpdate().skipLocked() as T) : query;
}

export function captureTriggerName(integrationId: number): string {
  return `kbts_capture_${integrationId}`;
}

/** The PostgreSQL channel the capture trigger notifies, with the integration id as payload. */
export const RECORDS_CHANNEL = 'kbts_records';

/**
 * The capture trigger records each insert in kbts_publications inside the inserting
 * transaction, whoever wrote the row: nothing is scanned and out-of-order commits lose nothing.
 * On PostgreSQL it also notifies RECORDS_CHANNEL, delivered at commit (one notification per
 * integration per transaction, as PostgreSQL folds identical ones), so every listening worker
 * publishes at once; SQLite has no notifications, so workers there watch PRAGMA data_version.
 */
export async function installCaptureTrigger(db: Knex, integrationId: number, table: string, primaryKey: string): Promise<void> {
  const name = captureTriggerName(integrationId);
  const id = Number(integrationId);
  const tableSql = quoteIdentifier(db, table);
  const keySql = quoteIdentifier(db, primaryKey);
  if (isPostgres(db)) {
    await db.raw(`
      CREATE OR REPLACE FUNCTION ${name}() RETURNS trigger AS $$
      BEGIN
        INSERT INTO kbts_publications (integration_id, record_key, state, attempts, created_at)
        VALUES (${id}, NEW.${keySql}::text, 'pending', 0,
                to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
        ON CONFLICT (integration_id, record_key) DO NOTHING;
        PERFORM pg_notify('${RECORDS_CHANNEL}', '${id}');
        RETURN NEW;
      END $$ LANGUAGE plpgsql`);
    await db.raw(`DROP TRIGGER IF EXISTS ${name} ON ${tableSql}`);
    await db.raw(`CREATE TRIGGER ${name} AFTER INSERT ON ${tableSql} FOR EACH ROW EXECUTE FUNCTION ${name}()`);
    return;
  }
  await db.raw(`DROP TRIGGER IF EXISTS ${name}`);
  await db.raw(`
    CREATE TRIGGER ${name} AFTER INSERT ON ${tableSql}
    BEGIN
      INSERT OR IGNORE INTO kbts_publications (integration_id, record_key, state, attempts, created_at)
      VALUES (${id}, CAST(NEW.${keySql} AS TEXT), 'pending', 0, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
    END`);
}

export async function removeCaptureTrigger(db: Knex, integrationId: number, table: string): Promise<void> {
  const name = captureTriggerName(integrationId);
  if (isPostgres(db)) {
    await db.raw(`DROP TRIGGER IF EXISTS ${name} ON ${quoteIdentifier(db, table)}`).catch(() => undefined);
    await db.raw(`DROP FUNCTION IF EXISTS ${name}()`);
    return;
  }
  await db.raw(`DROP TRIGGER IF EXISTS ${name}`);
}

export async function captureTriggerExists(db: Knex, integrationId: number): Promise<boolean> {
  const name = captureTriggerName(integrationId);
  if (isPostgres(db)) {
    const result = await db.raw('SELECT 1 FROM pg_trigger WHERE tgname = ?', [name]);
    return result.rows.length > 0;
  }
  const rows = await db.raw(`SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = ?`, [name]);
  return rows.length > 0;
}
