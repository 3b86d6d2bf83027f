import type { Knex } from 'knex';

/**
 * Sign-in attempt counters shared by every worker on the database, in the shape
 * rate-limiter-flexible's PostgreSQL and SQLite stores use (key, points, expire in epoch ms).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('kbts_login_limits', (table) => {
    table.string('key', 255).primary();
    table.integer('points').notNullable().defaultTo(0);
    table.bigInteger('expire');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('kbts_login_limits');
}
