import type { Knex } from 'knex';
import { ValidationError } from '../lib/errors';
import { listTables } from './schema';

export const EXAMPLE_TABLE = 'articles';

/**
 * The table a new user maps first: a title, the text to tweet, the replies field and a Yes/No
 * continue field that defaults to Yes (so records made without it are still tweeted, by choice).
 */
export async function createExampleTable(db: Knex): Promise<string> {
  if ((await listTables(db)).includes(EXAMPLE_TABLE)) {
    throw new ValidationError(`the knowledgebase already has a table named '${EXAMPLE_TABLE}'`, 'exampleTable');
  }
  await db.schema.createTable(EXAMPLE_TABLE, (table) => {
    table.increments('id');
    table.string('title', 200).notNullable();
    table.text('tweet_text');
    table.text('replies');
    table.string('keep_going', 10).notNullable().defaultTo('Yes');
  });
  return EXAMPLE_TABLE;
}
