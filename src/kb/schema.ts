import type { Knex } from 'knex';
import { describeKbTable, listKbTables, type TableInfo } from '../db/dialect';

export type { ColumnInfo, TableInfo } from '../db/dialect';

export const RESPONSE_MODES = ['append', 'prepend', 'overwrite'] as const;
export type ResponseMode = (typeof RESPONSE_MODES)[number];

export interface FieldMapping {
  table: string;
  tweetField: string;
  responseField: string;
  continueField: string;
}

export interface MappingProblem {
  /** Which input the problem belongs to, so a form can show it beside that field. */
  field: 'table' | 'tweetField' | 'responseField' | 'continueField';
  message: string;
}

export interface MappingCheck {
  table: TableInfo | null;
  errors: MappingProblem[];
  warnings: MappingProblem[];
}

// Below this a VARCHAR response field fills up after a handful of replies.
const SHORT_RESPONSE_FIELD = 1000;

export async function listTables(db: Knex): Promise<string[]> {
  return listKbTables(db);
}

export async function describeTable(db: Knex, table: string): Promise<TableInfo | null> {
  const tables = await listKbTables(db);
  // Only names that introspection reports are ever used as identifiers.
  if (!tables.includes(table)) return null;
  return describeKbTable(db, table);
}

/** A field's character limit (VARCHAR(n)), or null when it has none. The table name comes from an integration. */
export async function fieldCharacterLimit(db: Knex, table: string, field: string): Promise<number | null> {
  return (await describeKbTable(db, table))?.columns.find((column) => column.name === field)?.maxLength ?? null;
}

/** The same checks for the wizard and the command line, against the live schema. */
export async function checkFieldMapping(db: Knex, mapping: FieldMapping): Promise<MappingCheck> {
  const errors: MappingProblem[] = [];
  const warnings: MappingProblem[] = [];
  const table = await describeTable(db, mapping.table);
  if (!table) {
    errors.push({ field: 'table', message: `table '${mapping.table}' does not exist in the knowledgebase` });
    return { table, errors, warnings };
  }
  if (table.primaryKey.length !== 1) {
    errors.push({
      field: 'table',
      message: table.primaryKey.length === 0
        ? `table '${table.name}' has no primary key; each record must be findable again by a single-column primary key`
        : `table '${table.name}' has a primary key of ${table.primaryKey.length} columns (${table.primaryKey.join(', ')}); a single-column primary key is needed`,
    });
  }
  const labels = { tweetField: 'tweet field', responseField: 'response field', continueField: 'continue field' } as const;
  const chosen = (['tweetField', 'responseField', 'continueField'] as const).map((key) => ({ key, name: mapping[key] }));
  for (const { key, name } of chosen) {
    if (!name) errors.push({ field: key, message: `choose a ${labels[key]}` });
    else if (!table.columns.some((column) => column.name === name)) {
      errors.push({ field: key, message: `column '${name}' does not exist in table '${table.name}'` });
    }
  }
  for (let i = 0; i < chosen.length; i++) {
    for (let j = i + 1; j < chosen.length; j++) {
      if (chosen[i].name && chosen[i].name === chosen[j].name) {
        errors.push({
          field: chosen[j].key,
          message: `the ${labels[chosen[i].key]} and the ${labels[chosen[j].key]} are the same column '${chosen[j].name}'; choose a different column for each`,
        });
      }
    }
  }
  const response = table.columns.find((column) => column.name === mapping.responseField);
  if (response && table.primaryKey.includes(response.name)) {
    errors.push({ field: 'responseField', message: `the response field '${response.name}' is the primary key; replies cannot be written there` });
  } else if (response && !response.isText) {
    errors.push({
      field: 'responseField',
      message: `the response field '${response.name}' is of type ${response.type || 'unknown'}; replies are text, so choose a text column`,
    });
  } else if (response?.maxLength !== null && response?.maxLength !== undefined && response.maxLength < SHORT_RESPONSE_FIELD) {
    warnings.push({
      field: 'responseField',
      message: `the response field '${response.name}' holds at most ${response.maxLength} characters; replies will overflow it (a reply that does not fit is kept in the communications log, not written)`,
    });
  }
  const continueColumn = table.columns.find((column) => column.name === mapping.continueField);
  if (continueColumn?.nullable) {
    warnings.push({
      field: 'continueField',
      message: `the continue field '${continueColumn.name}' allows NULL; blank counts as Yes, so records created without a value are tweeted automatically`,
    });
  }
  return { table, errors, warnings };
}
