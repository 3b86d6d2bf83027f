import type { Knex } from 'knex';
import { installCaptureTrigger, isPostgres } from '../src/db/dialect';

/**
 * Tweet on commit: on PostgreSQL the capture trigger now also sends pg_notify, so the triggers
 * of integrations made before it are installed again (CREATE OR REPLACE: same name, same
 * capture, one more statement). SQLite's triggers are unchanged: workers there watch
 * PRAGMA data_version instead.
 */
export async function up(knex: Knex): Promise<void> {
  if (!isPostgres(knex)) return;
  const integrations: Array<{ id: number; table_name: string; primary_key_column: string }> = await knex('kbts_integrations')
    .select('id', 'table_name', 'primary_key_column');
  for (const integration of integrations) {
    // A table dropped since has no trigger to renew (its integration already says so).
    if (!(await knex.schema.hasTable(integration.table_name))) continue;
    await installCaptureTrigger(knex, integration.id, integration.table_name, integration.primary_key_column);
  }
}

/** The notification is harmless without listeners, so going back leaves the triggers as they are. */
export async function down(): Promise<void> {}
