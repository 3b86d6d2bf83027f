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

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
