/**
 * Errors meant for people: the message says what went wrong and where, in words a KB admin
 * can act on. Anything else that escapes is a bug and is shown as a generic failure.
 */
export class UserFacingError extends Error {
  readonly code: string;
  readonly field?: string;
  readonly status: number;

  constructor(code: string, message: string, options: { field?: string; status?: number } = {}) {
    super(message);
    this.name = 'UserFacingError';
    this.code = code;
    this.field = options.field;
    this.status = options.status ?? 400;
  }
}

export class ValidationError extends UserFacingError {
  constructor(message: string, field?: string) {
    super('validation', message, { field, status: 400 });
    this.name = 'ValidationError';
  }
}

export class NotFoundError extends UserFacingError {
  constructor(message: string) {
    super('not_found', message, { status: 404 });
    this.name = 'NotFoundError';
  }
}

export class ConfigError extends UserFacingError {
  constructor(message: string) {
    super('config', message, { status: 500 });
    this.name = 'ConfigError';
  }
}

// What a person can do about the database errors that are not bugs, recognised by SQLite's
// code or, where a library rewrapped the error, by SQLite's own words.
const DATABASE_HINTS: Array<[RegExp, string]> = [
  [/SQLITE_FULL|SQLITE_IOERR|database or disk is full|disk I\/O error/, 'the database file cannot be written (disk full, a size limit, or a failing disk): free space; nothing was lost, the work resumes once it can be written'],
  [/SQLITE_READONLY|readonly database/, 'the database file is read-only for this process: kb-twitter-sync must be able to write its own tables there'],
  [/SQLITE_CANTOPEN|unable to open database file/, 'the database file cannot be opened: check the path in DATABASE_URL and the permissions of its folder'],
];

export function errorMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown })?.code;
  const hint = DATABASE_HINTS.find(([pattern]) => pattern.test(`${typeof code === 'string' ? code : ''} ${message}`))?.[1];
  return hint ? `${hint} (${message})` : message;
}
