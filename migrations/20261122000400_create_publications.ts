import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('kbts_publications', (table) => {
    table.increments('id');
    // No foreign key: the capture trigger inserts here from inside the KB's own transactions.
    table.integer('integration_id').notNullable();
    table.string('record_key', 500).notNullable();
    // pending → sending → sent | failed | skipped
    table.string('state', 20).notNullable();
    table.text('reason');
    table.string('tweet_id', 40);
    // The text fixed at the first attempt (JSON array of parts), so a retry or reconciliation
    // looks for exactly what was sent even if the record was edited since.
    table.text('planned_parts');
    table.integer('attempts').notNullable().defaultTo(0);
    table.string('attempt_started_at', 30);
    table.string('next_attempt_at', 30);
    table.string('sent_at', 30);
    table.string('created_at', 30).notNullable();
    table.string('updated_at', 30);
    table.unique(['integration_id', 'record_key']);
    table.index(['integration_id', 'state']);
    table.index(['tweet_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('kbts_publications');
}
