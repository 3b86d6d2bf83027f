import type { Knex } from 'knex';

/**
 * A backlog of mentions larger than one read (KBTS_MAX_PAGES_PER_READ pages of recent search)
 * is read on over the next polls: the part not read yet, as X ids (since_id, until_id), per account.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('kbts_accounts', (table) => {
    table.string('backlog_since_id', 40);
    table.string('backlog_until_id', 40);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('kbts_accounts', (table) => {
    table.dropColumn('backlog_since_id');
    table.dropColumn('backlog_until_id');
  });
}
