import type { Knex } from 'knex';

/**
 * The cost meter (issue 13): X's billable units per account, UTC day and unit, counted from X's
 * answers; the resources already charged today (X charges a resource once per UTC day); and per
 * account its optional monthly budget and the hold its work is under (credits used up, budget
 * reached), which the credits probe and a budget change lift.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('kbts_x_usage', (table) => {
    table.integer('account_id').notNullable();
    table.string('day', 10).notNullable();
    table.string('unit', 40).notNullable();
    table.bigInteger('units').notNullable().defaultTo(0);
    table.primary(['account_id', 'day', 'unit']);
  });
  await knex.schema.createTable('kbts_x_usage_seen', (table) => {
    table.integer('account_id').notNullable();
    table.string('day', 10).notNullable();
    table.string('kind', 20).notNullable();
    table.string('resource_id', 64).notNullable();
    table.primary(['account_id', 'day', 'kind', 'resource_id']);
  });
  await knex.schema.createTable('kbts_account_spending', (table) => {
    table.integer('account_id').primary();
    /** US dollars per UTC month; null: no budget. */
    table.double('monthly_budget_usd');
    /** 'credits' (X answered 402) or 'budget' (the monthly budget is reached); null: no hold. */
    table.string('hold_kind', 20);
    /** The reason the account's integrations were paused with, word for word. */
    table.text('hold_reason');
    table.string('held_since', 30);
    table.string('last_probe_at', 30);
    table.string('updated_at', 30).notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('kbts_account_spending');
  await knex.schema.dropTable('kbts_x_usage_seen');
  await knex.schema.dropTable('kbts_x_usage');
}
