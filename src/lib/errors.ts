/**
 * Every code an error meant for people may carry, with the HTTP status it answers with. A code
 * is registered here once; `createError` makes its class, and callers tell errors apart by class.
 */
export const ERROR_CODES = {
  validation: 400,
  not_found: 404,
  config: 500,
  forbidden: 403,
  csrf: 403,
  refused: 422,
  login_incomplete: 400,
  login_failed: 400,
  no_sandbox: 400,
  sandbox_web_only: 400,
  sandbox_full: 400,
  account_in_use: 409,
  secret_unreadable: 500,
  kb_table_unreadable: 500,
  webhook_refused: 422,
  oauth_refused: 400,
  media_refused: 400,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * Errors meant for people: the message says what went wrong and where, in words a KB admin
 * can act on. Anything else that escapes is a bug and is shown as a generic failure.
 */
export class UserFacingError extends Error {
  readonly code: ErrorCode;
  readonly field?: string;
  readonly status: number;

  constructor(code: ErrorCode, message: string, options: { field?: string; status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UserFacingError';
    this.code = code;
    this.field = options.field;
    this.status = options.status ?? ERROR_CODES[code];
  }
}

export interface UserFacingErrorClass {
  new (message: string, field?: string): UserFacingError;
  readonly code: ErrorCode;
}

const created = new Set<ErrorCode>();

/** The class of one registered code: `new NotFoundError('account 3 does not exist')`. */
export function createError(code: ErrorCode, name: string): UserFacingErrorClass {
  if (created.has(code)) throw new Error(`error code '${code}' already has a class`);
  created.add(code);
  const errorClass = class extends UserFacingError {
    static readonly code = code;

    constructor(message: string, field?: string) {
      super(code, message, { field });
      this.name = name;
    }
  };
  Object.defineProperty(errorClass, 'name', { value: name });
  return errorClass;
}

export const ValidationError = createError('validation', 'ValidationError');
export type ValidationError = InstanceType<typeof ValidationError>;
export const NotFoundError = createError('not_found', 'NotFoundError');
export type NotFoundError = InstanceType<typeof NotFoundError>;
export const ConfigError = createError('config', 'ConfigError');
export type ConfigError = InstanceType<typeof ConfigError>;
/** A stored X secret that this SECRET_KEY cannot open. */
export const SecretUnreadableError = createError('secret_unreadable', 'SecretUnreadableError');
/** A knowledgebase table the engine cannot read (dropped, renamed, no permission). */
export const UnreadableTableError = createError('kb_table_unreadable', 'UnreadableTableError');

/** A file given for a media field that X would not take (its type or size), said in words. */
export const MediaRefusedFileError = createError('media_refused', 'MediaRefusedFileError');

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
