import type { Knex } from 'knex';

/**
 * The "no replies for N hours" alert: its setting on each integration (null: off), and one row
 * per integration while its alert is raised. The row makes the alert once per episode: the
 * process whose insert wins logs it and sends the notification; a reply deletes it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('kbts_integrations', (table) => {
    table.integer('alert_no_replies_hours');
  });
  await knex.schema.createTable('kbts_no_replies_alerts', (table) => {
    table.integer('integration_id').primary();
    table.integer('hours').notNullable();
    /** The last reply's arrival, or null when none ever arrived. */
    table.string('last_reply_at', 30);
    table.string('raised_at', 30).notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('kbts_no_replies_alerts');
  await knex.schema.alterTable('kbts_integrations', (table) => {
    table.dropColumn('alert_no_replies_hours');
  });
}
