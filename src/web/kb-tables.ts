import type { Knex } from 'knex';
import { describeTable, listTables, type TableInfo } from '../kb/schema';
import { NotFoundError } from '../lib/errors';

/**
 * A table named in a URL or a form, looked up among the names introspection reports; the
 * request's string itself is never used as an identifier.
 */
export async function knownTable(db: Knex, name: unknown): Promise<TableInfo | null> {
  const match = (await listTables(db)).find((table) => table === name);
  return match === undefined ? null : describeTable(db, match);
}

/**
 * Why a table cannot have pages of its own, or null when it can. Its name is one path segment
 * of every URL; browsers and proxies resolve `.` and `..` segments (encoded or not) before the
 * request is sent, and an empty segment is no name at all.
 */
export function pathProblem(name: string): string | null {
  if (name === '') return 'its name is empty, so it has no address among the pages';
  if (name === '.' || name === '..') return `its name '${name}' is a relative path step, which browsers resolve away, so it has no address among the pages`;
  return null;
}

export async function knownTableOrFail(db: Knex, name: unknown): Promise<TableInfo> {
  const table = await knownTable(db, name);
  if (!table) throw new NotFoundError(`The knowledgebase has no table '${String(name)}'.`);
  return table;
}
