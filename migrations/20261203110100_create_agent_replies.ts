import type { Knex } from 'knex';

/**
 * Talking back from the record: the queue of agents' replies (each posted exactly once, its
 * state kept here as a record's is in kbts_publications), the two per-integration switches
 * (the agent's initials, the DM deep link), the user's display name the initials come from,
 * and who wrote an outgoing reply, in the communications log.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('kbts_agent_replies', (table) => {
    table.increments('id');
    table.integer('integration_id').notNullable();
    table.string('record_key', 500).notNullable();
    table.integer('publication_id').notNullable();
    table.string('in_reply_to_tweet_id', 40).notNullable();
    /** What the person typed; `text` is what is posted (with the initials and the link). */
    table.text('body').notNullable();
    table.text('text').notNullable();
    table.integer('user_id').notNullable();
    table.string('username', 100).notNullable();
    table.string('initials', 40).notNullable();
    /** From the form, the API or the CLI: the same request sent again finds its reply. */
    table.string('idempotency_key', 200).notNullable();
    /** The same text to the same tweet while one is on its way or out (two tabs); cleared when it fails. */
    table.string('content_key', 64);
    table.string('state', 10).notNullable();
    table.text('reason');
    table.string('tweet_id', 40);
    table.integer('attempts').notNullable().defaultTo(0);
    table.string('attempt_started_at', 30);
    table.string('next_attempt_at', 30);
    table.string('sent_at', 30);
    table.string('created_at', 30).notNullable();
    table.string('updated_at', 30).notNullable();
    table.unique(['user_id', 'idempotency_key']);
    table.unique(['content_key']);
    table.index(['integration_id', 'state']);
    table.index(['integration_id', 'record_key']);
  });
  await knex.schema.alterTable('kbts_integrations', (table) => {
    table.boolean('agent_initials').notNullable().defaultTo(false);
    table.boolean('dm_deep_link').notNullable().defaultTo(false);
  });
  await knex.schema.alterTable('kbts_users', (table) => {
    table.string('display_name', 100);
  });
  await knex.schema.alterTable('kbts_communications', (table) => {
    table.string('written_by', 100);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('kbts_communications', (table) => table.dropColumn('written_by'));
  await knex.schema.alterTable('kbts_users', (table) => table.dropColumn('display_name'));
  await knex.schema.alterTable('kbts_integrations', (table) => {
    table.dropColumn('agent_initials');
    table.dropColumn('dm_deep_link');
  });
  await knex.schema.dropTable('kbts_agent_replies');
}
