import type { Knex } from 'knex';
import { describeKbTable, listKbTables, quoteIdentifier, type ColumnInfo, type TableInfo } from '../db/dialect';
import { parseYesNo } from './yes-no';

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

// How many of the newest rows a sample reads, and how many distinct values it keeps.
const SAMPLE_ROWS = 500;
const SAMPLE_VALUES = 5;
// A text column this short holds a word, not a sentence: Yes/No-like even before it holds values.
const SHORT_TEXT = 20;
const YES_NO_TYPE = /^\s*(bool|boolean|bit|tinyint|smallint|int2)\b/i;

/**
 * A few distinct values of a column, from the newest rows (by primary key), NULLs left out; an
 * empty list when the table has none, null when the database cannot compare the column's values
 * (a JSON column on PostgreSQL, say). The names come from introspection and are quoted.
 */
export async function sampleValues(db: Knex, table: TableInfo, column: string): Promise<unknown[] | null> {
  if (!table.columns.some((candidate) => candidate.name === column)) return null;
  const name = quoteIdentifier(db, column);
  const newest = table.primaryKey.length === 1 ? ` ORDER BY ${quoteIdentifier(db, table.primaryKey[0])} DESC` : '';
  try {
    const result = await db.raw(
      `SELECT DISTINCT sampled.v FROM (SELECT ${name} AS v FROM ${quoteIdentifier(db, table.name)} WHERE ${name} IS NOT NULL${newest} LIMIT ${SAMPLE_ROWS}) sampled LIMIT ${SAMPLE_VALUES + 1}`,
    );
    const rows: Array<{ v: unknown }> = Array.isArray(result) ? result : result.rows;
    return rows.map((row) => row.v);
  } catch {
    return null;
  }
}

/** A sampled value as a person reads it: quoted, and cut when long. */
export function quoteSample(value: unknown): string {
  const text = value instanceof Date ? value.toISOString() : Buffer.isBuffer(value) ? `(${value.length} bytes)` : String(value);
  return `'${text.length > 40 ? `${text.slice(0, 40)}…` : text}'`;
}

/** Quoted samples, at most SAMPLE_VALUES, with … when the column holds more. */
export function quoteSamples(values: unknown[]): string {
  return values.slice(0, SAMPLE_VALUES).map(quoteSample).join(', ') + (values.length > SAMPLE_VALUES ? ', …' : '');
}

/** Is the column of a type that holds Yes/No: a boolean, a small integer, a short text? */
function yesNoType(column: ColumnInfo): boolean {
  return YES_NO_TYPE.test(column.type) || (column.isText && column.maxLength !== null && column.maxLength <= SHORT_TEXT);
}

export interface ContinueCandidate {
  column: ColumnInfo;
  /** Sampled values (see sampleValues). */
  samples: unknown[] | null;
  /** The samples that are neither Yes nor No nor blank. */
  notYesNo: unknown[];
  /** Holds only Yes/No values, or nothing yet and is of a Yes/No type. */
  yesNoLike: boolean;
}

/** How well a column suits the continue field, from its values, or its type while it has none. */
function judgeContinueColumn(column: ColumnInfo, samples: unknown[] | null): ContinueCandidate {
  const notYesNo = (samples ?? []).filter((value) => parseYesNo(value).kind === 'invalid');
  // Blank values say nothing either way: a column of blanks is judged by its type.
  const said = (samples ?? []).filter((value) => parseYesNo(value).kind !== 'blank');
  const yesNoLike = said.length > 0 ? notYesNo.length === 0 : yesNoType(column);
  return { column, samples, notYesNo, yesNoLike };
}

/**
 * The table's columns for the continue field, Yes/No-like first (in table order within each
 * group), each with a sample of its values; the primary key last, as it never says Yes or No.
 */
export async function continueCandidates(db: Knex, table: TableInfo): Promise<ContinueCandidate[]> {
  const judged: ContinueCandidate[] = [];
  for (const column of table.columns) {
    const isKey = table.primaryKey.includes(column.name);
    judged.push(isKey ? { column, samples: null, notYesNo: [], yesNoLike: false } : judgeContinueColumn(column, await sampleValues(db, table, column.name)));
  }
  const rank = (candidate: ContinueCandidate) => (candidate.yesNoLike ? 0 : table.primaryKey.includes(candidate.column.name) ? 3 : candidate.notYesNo.length > 0 ? 2 : 1);
  return judged.map((candidate, index) => ({ candidate, index }))
    .sort((a, b) => rank(a.candidate) - rank(b.candidate) || a.index - b.index)
    .map(({ candidate }) => candidate);
}

/** Why a column is a doubtful continue field, in words, or null when its values or type suit it. Warnings: they never block. */
async function continueFieldDoubt(db: Knex, table: TableInfo, column: ColumnInfo): Promise<string | null> {
  const judged = judgeContinueColumn(column, await sampleValues(db, table, column.name));
  const skipped = 'records whose value is neither Yes nor No are skipped (Yes is yes, y, true, 1 or on; No is no, n, false, 0 or off; blank counts as Yes)';
  if (judged.notYesNo.length > 0) {
    return `the continue field '${column.name}' holds values that are neither Yes nor No: ${quoteSamples(judged.notYesNo)}; ${skipped}`;
  }
  if (judged.samples !== null && judged.samples.every((value) => parseYesNo(value).kind === 'blank') && column.isText && column.maxLength !== null && column.maxLength > SHORT_TEXT) {
    return `the continue field '${column.name}' is ${column.type}, a column for text rather than Yes/No, and holds no values yet to judge by; ${skipped}`;
  }
  return null;
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
  const doubt = continueColumn && !table.primaryKey.includes(continueColumn.name) && !errors.some((problem) => problem.field === 'continueField')
    ? await continueFieldDoubt(db, table, continueColumn) : null;
  if (doubt) warnings.push({ field: 'continueField', message: doubt });
  if (continueColumn?.nullable) {
    warnings.push({
      field: 'continueField',
      message: `the continue field '${continueColumn.name}' allows NULL; blank counts as Yes, so records created without a value are tweeted automatically`,
    });
  }
  return { table, errors, warnings };
}
