import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('kbts_users', (table) => {
    table.increments('id');
    table.string('username', 100).notNullable().unique();
    table.string('password_hash', 255).notNullable();
    table.string('role', 20).notNullable();
    table.string('created_at', 30).notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('kbts_users');
}
