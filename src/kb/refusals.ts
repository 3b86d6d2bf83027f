import type { TableInfo } from '../db/dialect';
import { ValidationError } from '../lib/errors';

/** The values a write tried to store, by column name. */
type GivenValues = ReadonlyMap<string, unknown>;

interface DriverError {
  message?: unknown;
  code?: unknown;
  column?: unknown;
  constraint?: unknown;
  detail?: unknown;
}

/** SQLite names a column as `table.column`; the table name may itself hold dots, so match whole known names. */
function columnsNamedIn(table: TableInfo, list: string): string[] {
  return list.split(', ').map((entry) => table.columns.find((column) => entry === `${table.name}.${column.name}`)?.name)
    .filter((name): name is string => name !== undefined);
}

/**
 * A column whose name appears in a constraint's name or expression, `_` counting as a word
 * break (`qty_not_negative`, `articles_title_check`, `length(title) > 0`); the longest name wins.
 */
function columnInConstraint(table: TableInfo, constraint: string): string | undefined {
  const padded = `_${constraint.replace(/[^\p{L}\p{N}_]+/gu, '_')}_`;
  return [...table.columns].sort((a, b) => b.name.length - a.name.length)
    .find((column) => padded.includes(`_${column.name}_`) && column.name !== table.name)?.name;
}

function unique(columns: string[]): ValidationError {
  const [first] = columns;
  return columns.length > 1
    ? new ValidationError(`another record already has this combination of ${columns.join(', ')}`, first)
    : new ValidationError(`another record already has this ${first}`, first);
}

function failsCheck(table: TableInfo, constraint: string): ValidationError {
  const column = columnInConstraint(table, constraint);
  return column
    ? new ValidationError(`${column} does not pass the table's check`, column)
    : new ValidationError(`the record does not pass the table's check '${constraint}'`);
}

function tooLong(table: TableInfo, values: GivenValues): ValidationError {
  const column = table.columns.find((candidate) => candidate.maxLength !== null && typeof values.get(candidate.name) === 'string'
    && Array.from(values.get(candidate.name) as string).length > candidate.maxLength);
  if (!column) return new ValidationError('a value is too long for its column');
  const length = Array.from(values.get(column.name) as string).length;
  return new ValidationError(`${column.name} is too long for the column: at most ${column.maxLength} characters (this is ${length})`, column.name);
}

function wrongType(table: TableInfo, values: GivenValues, message: string): ValidationError {
  // PostgreSQL quotes the value it could not read: `invalid input syntax for type integer: "abc"`.
  const quoted = /: "(.*)"$/s.exec(message)?.[1];
  const typed = /for type ([\w ]+)/.exec(message)?.[1];
  const column = table.columns.find((candidate) => !candidate.isText && values.has(candidate.name)
    && (quoted === undefined || String(values.get(candidate.name)) === quoted));
  if (!column) return new ValidationError(`a value is not of its column's type${typed ? ` (${typed})` : ''}`);
  return new ValidationError(`${column.name} must be a value of type ${column.type || typed || 'the column\'s type'}; '${String(values.get(column.name))}' is not`, column.name);
}

/**
 * The database's refusal of a record as a sentence on the field it concerns, without SQL text:
 * SQLite's constraint messages (better-sqlite3) and PostgreSQL's error codes. Anything else
 * (a bug, a lost connection) is not a refusal of the record and gives null.
 */
export function explainRefusal(error: unknown, table: TableInfo, values: GivenValues): ValidationError | null {
  if (error === null || typeof error !== 'object') return null;
  const { message, code, column, constraint } = error as DriverError;
  const text = typeof message === 'string' ? message : '';
  switch (code) {
    case '23502': // not_null_violation
      return typeof column === 'string' ? new ValidationError(`${column} is required`, column) : new ValidationError('a required field is empty');
    case '23505': { // unique_violation: detail is `Key (a, b)=(…) already exists.`
      const detail = typeof (error as DriverError).detail === 'string' ? (error as DriverError).detail as string : '';
      const keys = /^Key \((.+?)\)=/.exec(detail)?.[1].split(', ').filter((name) => table.columns.some((candidate) => candidate.name === name));
      if (keys && keys.length > 0) return unique(keys);
      const fromName = typeof constraint === 'string' ? columnInConstraint(table, constraint) : undefined;
      return fromName ? unique([fromName]) : new ValidationError('another record already has these values');
    }
    case '23514': // check_violation
      return failsCheck(table, typeof constraint === 'string' ? constraint : '');
    case '22001': // string_data_right_truncation
      return tooLong(table, values);
    case '22P02': // invalid_text_representation
    case '22003': // numeric_value_out_of_range
    case '22007': // invalid_datetime_format
    case '22008': // datetime_field_overflow
      return wrongType(table, values, text);
    default:
      break;
  }
  // knex puts the statement (with the values typed) before the driver's words, after ' - '.
  const words = text.slice(text.lastIndexOf(' - ') + (text.includes(' - ') ? 3 : 0));
  let match = /^NOT NULL constraint failed: (.+)$/.exec(words);
  if (match) {
    const [name] = columnsNamedIn(table, match[1]);
    return name ? new ValidationError(`${name} is required`, name) : new ValidationError('a required field is empty');
  }
  match = /^UNIQUE constraint failed: (.+)$/.exec(words);
  if (match) {
    const names = columnsNamedIn(table, match[1]);
    return names.length > 0 ? unique(names) : new ValidationError('another record already has these values');
  }
  match = /^CHECK constraint failed: (.+)$/.exec(words);
  if (match) return failsCheck(table, match[1]);
  // STRICT tables: `cannot store TEXT value in INTEGER column t.col`.
  match = /^cannot store (\w+) value in (\w+) column (.+)$/.exec(words);
  if (match) {
    const [name] = columnsNamedIn(table, match[3]);
    return name
      ? new ValidationError(`${name} must be a value of type ${match[2].toLowerCase()}; '${String(values.get(name))}' is not`, name)
      : new ValidationError(`a value is not of its column's type (${match[2].toLowerCase()})`);
  }
  return null;
}
