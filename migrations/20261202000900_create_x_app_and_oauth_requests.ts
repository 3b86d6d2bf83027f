import type { Knex } from 'knex';

/**
 * The X app's consumer key and secret (one row, sealed like the accounts' keys), and the request
 * tokens of "Connect with X" flows under way: each bound to the session that started it, used
 * once, and refused after it expires.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('kbts_x_app', (table) => {
    table.integer('id').primary();
    table.text('consumer_key_sealed').notNullable();
    table.text('consumer_secret_sealed').notNullable();
    table.string('api_base_url', 500).nullable();
    table.string('updated_at', 30).notNullable();
  });
  await knex.schema.createTable('kbts_oauth_requests', (table) => {
    // SHA-256 of the request token: the table alone does not let anyone finish a flow.
    table.string('token_hash', 64).primary();
    table.text('token_secret_sealed').notNullable();
    table.string('session_id_hash', 64).notNullable();
    table.string('environment', 10).notNullable();
    table.string('api_base_url', 500).nullable();
    table.string('description', 200).nullable();
    table.string('created_at', 30).notNullable();
    table.string('expires_at', 30).notNullable();
    table.index(['expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('kbts_oauth_requests');
  await knex.schema.dropTable('kbts_x_app');
}
