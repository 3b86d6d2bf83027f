import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('kbts_leases', (table) => {
    table.string('name', 200).primary();
    table.string('holder', 200).notNullable();
    table.string('expires_at', 30).notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('kbts_leases');
}
