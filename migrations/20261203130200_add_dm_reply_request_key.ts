import type { Knex } from 'knex';

/**
 * The record page's DM box sends a key with each form: the same form sent twice (a double click,
 * a reload) finds its reply instead of queueing a second message.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('kbts_dm_replies', (table) => {
    table.string('request_key', 200);
    table.unique(['channel_id', 'request_key']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('kbts_dm_replies', (table) => {
    table.dropUnique(['channel_id', 'request_key']);
    table.dropColumn('request_key');
  });
}
