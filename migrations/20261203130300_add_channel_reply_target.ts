import type { Knex } from 'knex';

/**
 * A reply from a mentions-channel record is a public post under the person's latest post in it:
 * kbts_dm_replies keeps that post's id beside the DMs (null for a direct message), and the X id
 * of what was sent (a DM event or a post) in dm_event_id.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('kbts_dm_replies', (table) => {
    table.string('in_reply_to_tweet_id', 40);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('kbts_dm_replies', (table) => {
    table.dropColumn('in_reply_to_tweet_id');
  });
}
