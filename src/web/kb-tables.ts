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

export async function knownTableOrFail(db: Knex, name: unknown): Promise<TableInfo> {
  const table = await knownTable(db, name);
  if (!table) throw new NotFoundError(`The knowledgebase has no table '${String(name)}'.`);
  return table;
}
