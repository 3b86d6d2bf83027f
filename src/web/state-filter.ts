import type { Knex } from 'knex';
import { readRecords, type KbRecord } from '../kb/records';
import type { TableInfo } from '../kb/schema';
import { ValidationError } from '../lib/errors';
import type { Integration } from '../store/integrations';
import { PUBLICATION_STATES, type PublicationState, type PublicationStore } from '../store/publications';

export interface StateFilter {
  /** The integration whose tweet states the list shows: the one asked for, else the table's first. */
  integration: Integration | null;
  /** Only records in this state for that integration; null lists them all. */
  state: PublicationState | null;
}

const STATE_LIST = PUBLICATION_STATES.join(', ');

function once(name: string, value: unknown): string {
  if (value === undefined) return '';
  if (typeof value !== 'string') throw new ValidationError(`${name} must be given once`, name);
  return value.trim();
}

/**
 * `?state=failed&integration=2` of a table's records list, in the pages and the JSON API alike.
 * A blank state lists every record.
 */
export function readStateFilter(query: Record<string, unknown>, table: TableInfo, integrations: Integration[]): StateFilter {
  const stateText = once('state', query.state);
  const integrationText = once('integration', query.integration);
  let integration = integrations[0] ?? null;
  if (integrationText !== '') {
    const found = /^\d+$/.test(integrationText) ? integrations.find((candidate) => candidate.id === Number(integrationText)) : undefined;
    if (!found) {
      const tweeting = integrations.length ? `its integrations are ${integrations.map((candidate) => `#${candidate.id}`).join(', ')}` : 'no integration tweets it';
      throw new ValidationError(`integration '${integrationText}' does not tweet table '${table.name}': ${tweeting}`, 'integration');
    }
    integration = found;
  }
  if (stateText === '') return { integration, state: null };
  if (!(PUBLICATION_STATES as readonly string[]).includes(stateText)) {
    throw new ValidationError(`state '${stateText}' is not a tweet state; use one of ${STATE_LIST}, or leave it out for every record`, 'state');
  }
  if (!integration) throw new ValidationError(`table '${table.name}' has no integration, so its records have no tweet state to filter by`, 'state');
  if (table.primaryKey.length !== 1) {
    throw new ValidationError(`table '${table.name}' has no single-column primary key, so its records cannot be matched with their tweet states`, 'state');
  }
  return { integration, state: stateText as PublicationState };
}

/** One page of the records in the filter's state, newest capture first, with how many there are. */
export async function recordsInState(
  db: Knex, publications: PublicationStore, table: TableInfo, filter: { integration: Integration; state: PublicationState }, page: { limit: number; offset: number },
): Promise<{ total: number; records: KbRecord[] }> {
  const total = (await publications.countByState(filter.integration.id))[filter.state];
  const keys = await publications.listKeysInState(filter.integration.id, filter.state, page);
  const found = await readRecords(db, { table: table.name, primaryKeyColumn: table.primaryKey[0] }, keys);
  // A record deleted from the KB keeps its publication row; it has nothing to show.
  return { total, records: keys.flatMap((key) => {
    const record = found.get(key);
    return record ? [record] : [];
  }) };
}
