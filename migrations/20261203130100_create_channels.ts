import type { Knex } from 'knex';

/**
 * Inbound channels (issue 15): an account's mentions or direct messages made records of a KB
 * table. Each channel's log of what came in and went out (unique by X id, per source), and the
 * queue of direct messages to send from a record, exactly once.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('kbts_channels', (table) => {
    table.increments('id');
    table.integer('account_id').notNullable().references('id').inTable('kbts_accounts').onDelete('CASCADE');
    table.string('kind', 10).notNullable();
    table.string('table_name', 255).notNullable();
    table.string('primary_key_column', 255).notNullable();
    table.string('text_field', 255).notNullable();
    table.string('author_field', 255).notNullable();
    table.string('link_field', 255).notNullable();
    table.string('tag_field', 255);
    table.string('response_field', 255).notNullable();
    table.string('response_mode', 10).notNullable();
    table.string('continue_field', 255).notNullable();
    table.string('time_zone', 64).notNullable().defaultTo('UTC');
    table.string('status', 10).notNullable();
    table.text('paused_reason');
    // Direct messages: the newest event read; older ones are never read again.
    table.string('dm_cursor_id', 40);
    // When GET /2/dm_events was last read to its end (in webhook mode it is a backstop at the account's interval).
    table.string('dm_read_at', 30);
    // Nothing from before the channel was added becomes a record.
    table.string('started_at', 30).notNullable();
    table.text('last_error');
    table.string('created_at', 30).notNullable();
    table.string('updated_at', 30).notNullable();
    table.unique(['account_id', 'kind']);
  });
  await knex.schema.createTable('kbts_channel_entries', (table) => {
    table.increments('id');
    table.integer('channel_id').notNullable().references('id').inTable('kbts_channels').onDelete('CASCADE');
    // mention: a tweet id; dm: a direct message event id.
    table.string('source', 10).notNullable();
    table.string('x_id', 40).notNullable();
    table.string('direction', 3).notNullable();
    // mention: the tweet it answers; dm: the other person's user id.
    table.string('parent_id', 40);
    table.string('person_id', 40);
    table.string('author_username', 100);
    table.text('text').notNullable();
    table.string('x_created_at', 30);
    table.string('record_key', 500);
    table.boolean('opened_record').notNullable().defaultTo(false);
    table.boolean('applied').notNullable().defaultTo(false);
    table.boolean('held').notNullable().defaultTo(false);
    table.text('not_applied_reason');
    // A DM sent from the record: the queued reply it belongs to.
    table.integer('dm_reply_id');
    table.string('recorded_at', 30).notNullable();
    table.unique(['source', 'x_id']);
    table.index(['channel_id', 'person_id']);
  });
  await knex.schema.createTable('kbts_dm_replies', (table) => {
    table.increments('id');
    table.integer('channel_id').notNullable().references('id').inTable('kbts_channels').onDelete('CASCADE');
    table.string('record_key', 500).notNullable();
    table.string('participant_id', 40).notNullable();
    table.text('text').notNullable();
    table.string('state', 10).notNullable();
    table.string('dm_event_id', 40);
    table.string('attempt_started_at', 30);
    table.string('next_attempt_at', 30);
    table.text('reason');
    table.string('requested_by', 255);
    table.string('created_at', 30).notNullable();
    table.string('updated_at', 30).notNullable();
    table.index(['channel_id', 'state']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('kbts_dm_replies');
  await knex.schema.dropTable('kbts_channel_entries');
  await knex.schema.dropTable('kbts_channels');
}
