import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('kbts_sessions', (table) => {
    // SHA-256 of the cookie's token: a copy of this table does not let anyone sign in.
    table.string('id_hash', 64).primary();
    table.integer('user_id').notNullable().references('id').inTable('kbts_users').onDelete('CASCADE');
    // A one-time notice for the next page ("integration 3 paused"), kept across the redirect.
    table.text('flash');
    table.string('created_at', 30).notNullable();
    table.string('expires_at', 30).notNullable();
    table.index(['user_id']);
    table.index(['expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('kbts_sessions');
}
