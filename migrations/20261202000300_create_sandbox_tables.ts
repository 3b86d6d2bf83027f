import type { Knex } from 'knex';

/**
 * The server's sandbox X API keeps its users and tweets here, so a restart keeps every tweet
 * (a record's tweet link still opens it) and every user id. The users' keys are not stored
 * here: they are the sandbox accounts' keys, sealed in kbts_accounts, and are attached again at start.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('kbts_sandbox_users', (table) => {
    table.string('id', 20).primary();
    table.string('username', 15).notNullable().unique();
    table.text('name').notNullable();
    table.text('description').notNullable();
    table.string('created_at', 40).notNullable();
    table.boolean('revoked').notNullable().defaultTo(false);
    table.string('access', 20).notNullable();
  });
  await knex.schema.createTable('kbts_sandbox_tweets', (table) => {
    table.string('id', 20).primary();
    table.string('author_id', 20).notNullable();
    table.text('text').notNullable();
    table.string('created_at', 40).notNullable();
    table.string('conversation_id', 20).notNullable();
    table.string('in_reply_to_tweet_id', 20);
    table.string('in_reply_to_user_id', 20);
    table.boolean('hidden').notNullable().defaultTo(false);
    // A deleted tweet stays as a row, so its id is never handed out again after a restart.
    table.boolean('deleted').notNullable().defaultTo(false);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('kbts_sandbox_tweets');
  await knex.schema.dropTable('kbts_sandbox_users');
}
