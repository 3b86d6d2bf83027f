import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('kbts_integrations', (table) => {
    table.increments('id');
    table.integer('account_id').notNullable().references('id').inTable('kbts_accounts');
    table.string('table_name', 200).notNullable();
    table.string('primary_key_column', 200).notNullable();
    table.string('tweet_field', 200).notNullable();
    table.string('response_field', 200).notNullable();
    table.string('response_mode', 20).notNullable();
    table.string('continue_field', 200).notNullable();
    table.string('schedule', 100).notNullable();
    table.string('time_zone', 100).notNullable();
    table.string('long_text_policy', 20).notNullable();
    table.string('status', 20).notNullable();
    table.text('paused_reason');
    table.string('last_poll_at', 30);
    table.text('last_error');
    table.string('last_error_at', 30);
    table.string('created_at', 30).notNullable();
    table.string('updated_at', 30).notNullable();
    table.index(['account_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('kbts_integrations');
}
