import fs from 'node:fs';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { projectRoot } from '../lib/project-root';

const SUFFIX: Partial<Record<NodeJS.Platform, string>> = { darwin: '.dylib', win32: '.dll' };

/** Where `npm install` builds native/kbts_blob_range.c (scripts/build-sqlite-extension.js). */
export const BLOB_RANGE_EXTENSION = path.join(projectRoot(__dirname), 'native', 'build', `kbts_blob_range${SUFFIX[process.platform] ?? '.so'}`);

const withBlobRange = new WeakSet<BetterSqlite3.Database>();

/**
 * Gives the connection `kbts_blob_range(table, column, rowid, offset, length)`: a range of a
 * BLOB read with SQLite's incremental BLOB I/O, without the whole value in memory. False when
 * the extension was not built (no C compiler at install) or does not load: BLOB ranges are then
 * read with substr().
 */
export function loadBlobRange(connection: BetterSqlite3.Database): boolean {
  if (!fs.existsSync(BLOB_RANGE_EXTENSION)) return false;
  try {
    // better-sqlite3 takes the entry point as a second argument; its types name only the path.
    (connection.loadExtension as (file: string, entryPoint: string) => void).call(connection, BLOB_RANGE_EXTENSION, 'sqlite3_kbtsblobrange_init');
  } catch {
    return false;
  }
  withBlobRange.add(connection);
  return true;
}

export function hasBlobRange(connection: BetterSqlite3.Database): boolean {
  return withBlobRange.has(connection);
}
