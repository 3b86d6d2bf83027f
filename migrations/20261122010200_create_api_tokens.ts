import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('kbts_api_tokens', (table) => {
    table.increments('id');
    table.integer('user_id').notNullable().references('id').inTable('kbts_users').onDelete('CASCADE');
    table.string('name', 100).notNullable();
    // SHA-256 of the token; the token itself is shown once, when it is created.
    table.string('token_hash', 64).notNullable().unique();
    // The first characters, so a person can tell their tokens apart.
    table.string('token_prefix', 20).notNullable();
    table.string('created_at', 30).notNullable();
    table.string('last_used_at', 30);
    table.index(['user_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('kbts_api_tokens');
}
