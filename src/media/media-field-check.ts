import type { TableInfo } from '../kb/schema';
import type { SettingProblem } from '../settings/integration-settings';

const BINARY_TYPE = /^\s*(blob|bytea|binary|varbinary|longblob|mediumblob)\b/i;

/** Which way a media field holds its files: paths in text, or the bytes themselves. */
export function mediaFieldHolds(type: string, isText: boolean): 'paths' | 'bytes' | null {
  if (BINARY_TYPE.test(type)) return 'bytes';
  return isText ? 'paths' : null;
}

/**
 * The media field against the live schema, as the other fields are checked: the column exists,
 * is none of the other fields, and holds text (paths) or bytes (a BLOB / bytea).
 */
export function checkMediaField(
  table: TableInfo, mediaField: string | null | undefined, others: { tweetField?: string; responseField?: string; continueField?: string },
): SettingProblem[] {
  if (!mediaField) return [];
  const column = table.columns.find((candidate) => candidate.name === mediaField);
  if (!column) return [{ field: 'mediaField', message: `column '${mediaField}' does not exist in table '${table.name}'` }];
  if (table.primaryKey.includes(mediaField)) return [{ field: 'mediaField', message: `the media field '${mediaField}' is the primary key; choose the column that holds the files` }];
  const labels = { tweetField: 'tweet field', responseField: 'response field', continueField: 'continue field' } as const;
  for (const key of Object.keys(labels) as Array<keyof typeof labels>) {
    if (others[key] === mediaField) {
      return [{ field: 'mediaField', message: `the media field and the ${labels[key]} are the same column '${mediaField}'; choose the column that holds the files` }];
    }
  }
  if (!mediaFieldHolds(column.type, column.isText)) {
    return [{
      field: 'mediaField',
      message: `the media field '${mediaField}' is of type ${column.type || 'unknown'}; it must hold file paths (a text column) or the file itself (a BLOB or bytea column)`,
    }];
  }
  return [];
}
