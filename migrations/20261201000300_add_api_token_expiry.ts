import type { Knex } from 'knex';

/** An optional end for each API token (ISO-8601 UTC, as every other time the product stores); NULL never ends. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('kbts_api_tokens', (table) => {
    table.string('expires_at', 30);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('kbts_api_tokens', (table) => {
    table.dropColumn('expires_at');
  });
}
