import pino from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** A logger whose every line also carries these fields, e.g. `{ accountId }` or `{ integrationId }`. */
  child(bindings: Record<string, unknown>): Logger;
}

export const REDACTED = '[redacted]';

// The names under which X credentials, passwords, session and API tokens travel in this code
// base (camelCase in the app, snake_case as X and the emulator spell them, header names).
const SECRET_KEYS = [
  'secret', 'secretKey', 'secret_key', 'apiKey', 'api_key', 'apiKeySecret', 'api_key_secret',
  'accessToken', 'access_token', 'accessTokenSecret', 'access_token_secret', 'token', 'tokenHash', 'token_hash',
  'oauth_token', 'oauth_token_secret', 'oauth_signature', 'consumerKey', 'consumer_key', 'consumerSecret', 'consumer_secret',
  'password', 'passwordHash', 'password_hash', 'credentials', 'authorization', 'Authorization', 'cookie', 'Cookie', 'set-cookie',
];

/** Every path pino blanks out: each secret key at the top of a line and nested up to two levels (`*.token`, `req.headers.authorization`). */
export const REDACTED_PATHS = SECRET_KEYS.flatMap((key) => {
  const name = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `["${key}"]`;
  const nested = name.startsWith('[') ? name : `.${name}`;
  return [name, `*${nested}`, `*.*${nested}`];
});

// A top-level field whose name merely looks secret (say `twitterApiKey`) is blanked as well:
// the path list above cannot match by pattern, and a new field must not leak by its spelling.
const SECRET_FIELD = /secret|token|password|api_?key|authorization|credential|cookie/i;

/**
 * pino's err serializer (type, message with causes, stack), keeping only those: errors of HTTP
 * clients carry their request, headers included, as enumerable properties.
 */
function serializeError(value: unknown): unknown {
  if (!(value instanceof Error)) return value;
  const { type, message, stack, code } = pino.stdSerializers.err(value) as unknown as Record<string, unknown>;
  return { type, message, stack, ...(code !== undefined ? { code } : {}) };
}

function cleanFields(fields: Record<string, unknown>): Record<string, unknown> {
  const clean: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) clean[key] = SECRET_FIELD.test(key) ? REDACTED : serializeError(value);
  return clean;
}

class PinoLogger implements Logger {
  constructor(private readonly pino: pino.Logger) {}

  debug(message: string, fields: Record<string, unknown> = {}): void { this.pino.debug(fields, message); }
  info(message: string, fields: Record<string, unknown> = {}): void { this.pino.info(fields, message); }
  warn(message: string, fields: Record<string, unknown> = {}): void { this.pino.warn(fields, message); }
  error(message: string, fields: Record<string, unknown> = {}): void { this.pino.error(fields, message); }

  child(bindings: Record<string, unknown>): Logger {
    return new PinoLogger(this.pino.child(cleanFields(bindings)));
  }
}

/**
 * One JSON line per event, `{"level":"info","time":"…","message":"…",…fields}`, on stderr so
 * stdout stays free for command output. Written synchronously, so a crash loses no line.
 * `write` receives each line without its newline instead (tests collect them).
 */
export function createLogger(level: LogLevel, write?: (line: string) => void): Logger {
  const destination = write
    ? { write: (chunk: string) => write(chunk.endsWith('\n') ? chunk.slice(0, -1) : chunk) }
    : pino.destination({ fd: 2, sync: true });
  return new PinoLogger(pino({
    level,
    base: undefined,
    messageKey: 'message',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
      log: cleanFields,
    },
    serializers: { err: serializeError, error: serializeError },
    redact: { paths: REDACTED_PATHS, censor: REDACTED },
  }, destination));
}

export const silentLogger: Logger = createLogger('silent');
