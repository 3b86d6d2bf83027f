import type { Knex } from 'knex';

/**
 * The sandbox keeps the media attached to its tweets across restarts: their type, key and
 * addresses, as JSON (what a tweet and its includes.media show), never the files.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('kbts_sandbox_tweets', (table) => {
    table.text('media');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('kbts_sandbox_tweets', (table) => {
    table.dropColumn('media');
  });
}
