import fs from 'node:fs';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import knexFactory, { type Knex } from 'knex';
import type { DatabaseConfig } from '../config';
import { withMigrationLock } from './dialect';
import { migrationSource } from './migration-source';
import { loadBlobRange } from './sqlite-blob-range';
import { cachePreparedStatements } from './statement-cache';

export type Db = Knex;

/** Knex for the configured database; SQLite gets WAL and a busy timeout so several processes can share one file. */
export function createDb(config: DatabaseConfig): Db {
  if (config.client === 'postgres') {
    return knexFactory({
      client: 'pg',
      connection: config.connection,
      pool: { min: 0, max: 10 },
      migrations: { tableName: 'kbts_migrations' },
    });
  }
  const file = config.connection;
  if (file !== ':memory:') keepPrivate(file);
  return knexFactory({
    client: 'better-sqlite3',
    connection: { filename: file },
    useNullAsDefault: true,
    pool: {
      min: 1,
      max: 1,
      afterCreate(connection: BetterSqlite3.Database, done: (error: Error | null, connection: unknown) => void) {
        connection.pragma('journal_mode = WAL');
        connection.pragma('busy_timeout = 10000');
        connection.pragma('foreign_keys = ON');
        connection.pragma('synchronous = NORMAL');
        cachePreparedStatements(connection);
        loadBlobRange(connection);
        done(null, connection);
      },
    },
    migrations: { tableName: 'kbts_migrations' },
  });
}

/**
 * The database file holds password hashes and sealed X secrets: a folder made for it is 0700,
 * the file is created 0600 before SQLite opens it, and SQLite gives its -wal and -shm files the
 * database file's mode. Files from before this rule lose their group and other permissions.
 */
function keepPrivate(file: string): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
  try {
    fs.closeSync(fs.openSync(file, 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  for (const companion of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      // Only group and others lose their access; a read-only file stays read-only.
      const { mode } = fs.statSync(companion);
      if ((mode & 0o077) !== 0) fs.chmodSync(companion, mode & 0o700);
    } catch {
      // Missing companions appear later with the database file's mode; a file of another owner stays as it is.
    }
  }
}

export async function migrateToLatest(db: Db): Promise<string[]> {
  return withMigrationLock(db, async () => {
    const [, applied] = await db.migrate.latest({ migrationSource, tableName: 'kbts_migrations' });
    return applied as string[];
  });
}

const SQLITE_BUSY = /SQLITE_BUSY|database is locked/;

/**
 * A transaction that is retried when SQLite reports another writer: a deferred transaction
 * that reads before it writes gets SQLITE_BUSY at once (busy_timeout cannot help it), and
 * running the whole unit again is the safe answer.
 */
export async function inTransaction<T>(db: Db, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction(work);
    } catch (error) {
      if (attempt >= 20 || !SQLITE_BUSY.test(String((error as Error)?.message))) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10 * attempt + Math.random() * 40));
    }
  }
}
