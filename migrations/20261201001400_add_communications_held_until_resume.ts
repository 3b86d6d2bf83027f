import type { Knex } from 'knex';

/**
 * A reply logged "not applied" only because its integration was paused waits for the resume,
 * which writes it into its record once. A reply refused for any other reason (the continue
 * field said No, the record was gone) stays as logged: rule 3 writes nothing after a No.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('kbts_communications', (table) => {
    table.boolean('held_until_resume').notNullable().defaultTo(false);
  });
  // Replies logged before this column, while paused, are caught up on the next resume too.
  await knex('kbts_communications').where({ direction: 'in', applied: false })
    .where('not_applied_reason', 'like', 'not written: the integration is paused%')
    .update({ held_until_resume: true });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('kbts_communications', (table) => {
    table.dropColumn('held_until_resume');
  });
}
