import type { Knex } from 'knex';

/**
 * One integration per account, table and tweet field: a second one tweeted each new record
 * again (and failed as X's duplicate). The unique index makes two creates racing each other
 * end with one integration, whatever the code above it checks.
 *
 * An installation may already hold such twins. Dropping one would lose its publication states
 * and its record of what was tweeted, so the oldest of each group keeps working, and every later
 * one is paused with the reason and marked `duplicate_of` the oldest; the index leaves marked rows
 * out, so the migration never fails on them. Resuming a marked one is refused while its twin
 * exists (setup/integration-setup.ts); an admin removes it, or removes the twin and resumes it.
 */
export const DUPLICATE_INDEX = 'kbts_integrations_one_per_tweet_field';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('kbts_integrations', (table) => {
    table.integer('duplicate_of');
  });
  const twins = await knex('kbts_integrations')
    .select('account_id', 'table_name', 'tweet_field').min({ keeper: 'id' })
    .groupBy('account_id', 'table_name', 'tweet_field').havingRaw('COUNT(*) > 1');
  const now = new Date().toISOString();
  for (const twin of twins as Array<{ account_id: number; table_name: string; tweet_field: string; keeper: number }>) {
    await knex('kbts_integrations')
      .where({ account_id: twin.account_id, table_name: twin.table_name, tweet_field: twin.tweet_field })
      .whereNot('id', twin.keeper)
      .update({
        duplicate_of: twin.keeper,
        status: 'paused',
        paused_reason: `duplicate of integration ${twin.keeper}: the same account, table and tweet field, so each new record would be tweeted twice; `
          + `remove this integration (integration ${twin.keeper} goes on tweeting)`,
        updated_at: now,
      });
  }
  // The same partial-index SQL on SQLite and PostgreSQL.
  await knex.raw(`CREATE UNIQUE INDEX ${DUPLICATE_INDEX} ON kbts_integrations (account_id, table_name, tweet_field) WHERE duplicate_of IS NULL`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP INDEX IF EXISTS ${DUPLICATE_INDEX}`);
  await knex.schema.alterTable('kbts_integrations', (table) => {
    table.dropColumn('duplicate_of');
  });
}
