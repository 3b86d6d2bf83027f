import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('kbts_accounts', (table) => {
    table.increments('id');
    table.string('description', 200).notNullable();
    // live: X itself; sandbox: the emulator built into the server; custom: any X-compatible server.
    table.string('environment', 20).notNullable();
    table.string('api_base_url', 500);
    // AES-256-GCM sealed under SECRET_KEY; never stored or shown in the clear.
    table.text('api_key_sealed').notNullable();
    table.text('api_key_secret_sealed').notNullable();
    table.text('access_token_sealed').notNullable();
    table.text('access_token_secret_sealed').notNullable();
    table.string('screen_name', 100);
    table.string('x_user_id', 40);
    table.string('last_tested_at', 30);
    table.text('last_test_error');
    // Newest mention id applied; the reply collector re-reads a small overlap behind it.
    table.string('mentions_cursor_id', 40);
    table.string('rate_limited_until', 30);
    table.text('rate_limits_json');
    table.string('created_at', 30).notNullable();
    table.string('updated_at', 30).notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('kbts_accounts');
}
