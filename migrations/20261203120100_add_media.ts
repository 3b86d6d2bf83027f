import type { Knex } from 'knex';

/**
 * Media in posts: each integration's optional media field, and the uploads made for a record's
 * post, kept with their expiry so that a post retried before then reuses them and one retried
 * after uploads again (the uploads may repeat; the post never does).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('kbts_integrations', (table) => {
    table.string('media_field', 200);
  });
  await knex.schema.createTable('kbts_media_uploads', (table) => {
    table.increments('id').primary();
    table.integer('publication_id').notNullable().index();
    /** The file's place among the post's media. */
    table.integer('position').notNullable();
    /** What was uploaded (path, size, modification time; or the BLOB's hash), to tell a changed file. */
    table.string('fingerprint', 1200).notNullable();
    table.string('media_id', 40).notNullable();
    table.string('media_key', 60);
    table.string('kind', 10).notNullable();
    table.string('expires_at', 30).notNullable();
    table.string('uploaded_at', 30).notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('kbts_media_uploads');
  await knex.schema.alterTable('kbts_integrations', (table) => {
    table.dropColumn('media_field');
  });
}
