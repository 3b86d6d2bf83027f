import type { Knex } from 'knex';

/**
 * One row at most: the first-run form inserts it in the transaction that creates the first
 * admin, so of several forms sent at once the primary key lets exactly one through.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('kbts_first_run', (table) => {
    table.integer('id').primary();
    table.string('created_at', 30).notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('kbts_first_run');
}
