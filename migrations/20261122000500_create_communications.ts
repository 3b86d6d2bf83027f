import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('kbts_communications', (table) => {
    table.increments('id');
    table.integer('integration_id').notNullable();
    table.integer('publication_id');
    table.string('record_key', 500).notNullable();
    table.string('direction', 3).notNullable(); // out: a tweet we posted; in: a reply we received
    table.string('tweet_id', 40).notNullable().unique();
    table.string('conversation_id', 40);
    table.string('in_reply_to_tweet_id', 40);
    table.string('author_id', 40);
    table.string('author_username', 100);
    table.text('text').notNullable();
    table.string('tweet_created_at', 30);
    table.boolean('applied').notNullable();
    table.text('not_applied_reason');
    table.string('recorded_at', 30).notNullable();
    table.index(['publication_id']);
    table.index(['integration_id', 'recorded_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('kbts_communications');
}
