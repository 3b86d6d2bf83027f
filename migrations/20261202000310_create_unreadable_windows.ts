import type { Knex } from 'knex';

/**
 * Stretches of time whose replies X could no longer serve when the account was read (more than
 * 800 mentions since the last read, and older than search's 7 days): named on the dashboard and
 * in `integration list --json` until an admin dismisses them, instead of skipped in silence.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('kbts_unreadable_windows', (table) => {
    table.increments('id');
    table.integer('account_id').notNullable();
    table.string('from_at', 40).notNullable();
    table.string('to_at', 40).notNullable();
    table.string('reason', 40).notNullable();
    table.string('found_at', 40).notNullable();
    table.string('dismissed_at', 40);
    table.string('dismissed_by', 255);
    // A read that failed after noting its window notes it again on the next try: one row.
    table.unique(['account_id', 'from_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('kbts_unreadable_windows');
}
