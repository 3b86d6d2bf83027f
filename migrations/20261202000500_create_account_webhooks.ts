import type { Knex } from 'knex';

/**
 * An account's real-time replies mode (X Activity API by webhook): whether it is on, what X
 * knows of it (the webhook, its validity, the subscriptions), when X last checked and last sent,
 * and the backstop poll's own interval while it is on.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('kbts_account_webhooks', (table) => {
    table.integer('account_id').primary().references('id').inTable('kbts_accounts').onDelete('CASCADE');
    table.boolean('enabled').notNullable().defaultTo(false);
    table.string('webhook_id', 30).nullable();
    table.string('webhook_url', 500).nullable();
    table.boolean('valid').nullable();
    table.text('subscriptions_json').nullable();
    table.string('last_crc_at', 30).nullable();
    table.string('last_event_at', 30).nullable();
    table.string('events_day', 10).nullable();
    table.integer('events_today').notNullable().defaultTo(0);
    table.integer('backstop_minutes').notNullable().defaultTo(15);
    table.string('last_backstop_at', 30).nullable();
    table.string('alive_at', 30).nullable();
    table.text('last_error').nullable();
    table.string('updated_at', 30).notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('kbts_account_webhooks');
}
