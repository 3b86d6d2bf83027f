import type { Knex } from 'knex';

/**
 * One-time tokens of rendered create forms: a second submission of the same form (double click,
 * two tabs, Back + submit) finds its token used and is shown what the first one made.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('kbts_form_tokens', (table) => {
    table.string('token', 64).primary();
    table.string('purpose', 255).notNullable();
    table.integer('user_id').notNullable();
    table.string('created_at', 40).notNullable();
    // Set while a submission works with the token; cleared again when that submission was refused.
    table.string('claimed_at', 40);
    // What the finished submission made (the new record's page, "integration 3"), for any later submission.
    table.text('result');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('kbts_form_tokens');
}
