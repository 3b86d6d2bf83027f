import type { Knex } from 'knex';

/**
 * The live pages ask for the newest publication change a few times a second while someone
 * watches; with this index that is one step down a b-tree instead of a pass over every record's row.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('kbts_publications', (table) => {
    table.index(['updated_at'], 'kbts_publications_updated_at_index');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('kbts_publications', (table) => {
    table.dropIndex(['updated_at'], 'kbts_publications_updated_at_index');
  });
}
