import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from './lib/errors';
import type { LogLevel } from './lib/logger';
import { parsePriceTable, type PriceTable } from './settings/prices';
import { MB } from './media/media-kinds';
import type { MediaSettings } from './media/record-media';

export interface DatabaseConfig {
  client: 'sqlite' | 'postgres';
  /** A file path for SQLite, a connection URL for PostgreSQL. */
  connection: string;
}

export interface Config {
  database: DatabaseConfig;
  host: string;
  port: number;
  secretKey: string;
  logLevel: LogLevel;
  dataDir: string;
  /** First delay of the exponential backoff for transient X errors. */
  retryBaseMs: number;
  /** A 429 whose reset is at most this far ahead is waited out inside the cycle; a later one defers the account. */
  maxRateLimitWaitMs: number;
  /** How far behind the mentions cursor each poll re-reads, for replies X makes visible late. */
  replyOverlapSeconds: number;
  /** How often a running scheduler looks for integrations added, changed or removed elsewhere. */
  schedulerRefreshMs: number;
  /** How long a worker's claim on an account lasts unless renewed; a dead worker's work is taken over after it. */
  leaseSeconds: number;
  /** SQLite: how often a running daemon checks PRAGMA data_version for records other processes committed. */
  changeCheckMs: number;
  /** How often a running daemon looks for due records whatever it was told, the backstop of tweet-on-commit. */
  publishSweepMs: number;
  /** A read of X stops after this many pages (a server that keeps paging must not spend the account's calls). */
  maxPagesPerRead: number;
  /** Accounts one worker works at the same time; the others wait their turn (or another worker takes them). */
  accountsAtOnce: number;
  /** After a lost answer, how long a post not found among the account's own posts still may be X showing it late. */
  reconcileGraceSeconds: number;
  /** Where a media field's paths lead (KBTS_MEDIA_DIR, default <data folder>/media), and the product's cap on a file (KBTS_MEDIA_MAX_MB). */
  media: MediaSettings;
  /**
   * Express's `trust proxy`: false (no proxy, the default), a number of proxy hops, or the
   * addresses of the proxies. Behind a trusted proxy the client's address comes from
   * X-Forwarded-For and HTTPS from X-Forwarded-Proto.
   */
  trustProxy: boolean | number | string[];
  /**
   * The address X reaches this server at (PUBLIC_URL), for real-time replies by webhook; null
   * when unset (the mode is then available to sandbox accounts only).
   */
  publicUrl: string | null;
  /** The bearer token /metrics asks for (METRICS_TOKEN); null leaves /metrics off. */
  metricsToken: string | null;
  /** Where a raised "no replies for N hours" alert is POSTed as JSON (ALERT_WEBHOOK_URL); null: nowhere. */
  alertWebhookUrl: string | null;
  /** X's prices per billable unit (KBTS_X_PRICES overrides X's list prices), for the cost meter. */
  xPrices: PriceTable;
  /** How often an account whose X credits were used up is asked again (KBTS_CREDITS_PROBE_SECONDS). */
  creditsProbeSeconds: number;
}

const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const satisfies readonly LogLevel[];

function parseDatabase(url: string | undefined, dataDir: string): DatabaseConfig {
  if (!url) return { client: 'sqlite', connection: path.join(dataDir, 'kb.sqlite3') };
  if (/^postgres(ql)?:\/\//.test(url)) return { client: 'postgres', connection: url };
  if (url.startsWith('sqlite:')) {
    const file = url.replace(/^sqlite:(\/\/)?/, '');
    if (!file) throw new ConfigError('DATABASE_URL "sqlite:" names no file; use sqlite:./data/kb.sqlite3 or a plain path');
    return { client: 'sqlite', connection: file };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new ConfigError(`DATABASE_URL must be a SQLite file path, a sqlite: URL or a postgres:// URL, not "${url.split(':')[0]}:"`);
  }
  return { client: 'sqlite', connection: url };
}

// An unset variable and an empty one both mean "the default".
const unsetIfEmpty = (value: unknown) => (value === '' ? undefined : value);

function text(fallback: string) {
  return z.preprocess(unsetIfEmpty, z.string().default(fallback));
}

function wholeNumber(name: string, fallback: number, min: number, max: number) {
  return z.preprocess(unsetIfEmpty, z.string().optional()
    .refine((value) => value === undefined || (/^-?\d+$/.test(value.trim()) && Number(value) >= min && Number(value) <= max), {
      error: (issue) => `${name} must be a whole number from ${min} to ${max}, not "${String(issue.input)}"`,
    })
    .transform((value) => (value === undefined ? fallback : Number(value))));
}

/** Every environment variable the product reads, with its default and its rule. */
export const environmentSchema = z.object({
  KBTS_DATA_DIR: text('./data'),
  DATABASE_URL: z.preprocess(unsetIfEmpty, z.string().optional()),
  HOST: text('127.0.0.1'),
  PORT: wholeNumber('PORT', 3000, 0, 65535),
  SECRET_KEY: z.string().min(16, { error: 'SECRET_KEY must be at least 16 characters long' }).optional(),
  LOG_LEVEL: z.preprocess(
    (value) => (typeof value === 'string' && value !== '' ? value.toLowerCase() : undefined),
    z.enum(LOG_LEVELS, { error: (issue) => `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, not "${String(issue.input)}"` }).default('info'),
  ),
  KBTS_RETRY_BASE_MS: wholeNumber('KBTS_RETRY_BASE_MS', 1000, 1, 600_000),
  KBTS_MAX_RATE_LIMIT_WAIT_MS: wholeNumber('KBTS_MAX_RATE_LIMIT_WAIT_MS', 60_000, 0, 3_600_000),
  KBTS_REPLY_OVERLAP_SECONDS: wholeNumber('KBTS_REPLY_OVERLAP_SECONDS', 60, 0, 86_400),
  KBTS_SCHEDULER_REFRESH_MS: wholeNumber('KBTS_SCHEDULER_REFRESH_MS', 30_000, 100, 3_600_000),
  KBTS_LEASE_SECONDS: wholeNumber('KBTS_LEASE_SECONDS', 60, 2, 3600),
  KBTS_CHANGE_CHECK_MS: wholeNumber('KBTS_CHANGE_CHECK_MS', 250, 20, 60_000),
  KBTS_PUBLISH_SWEEP_MS: wholeNumber('KBTS_PUBLISH_SWEEP_MS', 30_000, 100, 3_600_000),
  KBTS_MAX_PAGES_PER_READ: wholeNumber('KBTS_MAX_PAGES_PER_READ', 100, 1, 1000),
  KBTS_ACCOUNTS_AT_ONCE: wholeNumber('KBTS_ACCOUNTS_AT_ONCE', 50, 1, 10_000),
  KBTS_RECONCILE_GRACE_SECONDS: wholeNumber('KBTS_RECONCILE_GRACE_SECONDS', 120, 0, 86_400),
  KBTS_CREDITS_PROBE_SECONDS: wholeNumber('KBTS_CREDITS_PROBE_SECONDS', 900, 10, 86_400),
  KBTS_X_PRICES: z.preprocess(unsetIfEmpty, z.string().optional()
    .transform((value, context) => {
      const table = parsePriceTable(value);
      if ('problem' in table) {
        context.addIssue({ code: 'custom', message: table.problem });
        return z.NEVER;
      }
      return table.prices;
    })),
  KBTS_MEDIA_DIR: z.preprocess(unsetIfEmpty, z.string().optional()),
  // X takes videos up to 512 MB; the product's own cap defaults to 25 MB.
  KBTS_MEDIA_MAX_MB: wholeNumber('KBTS_MEDIA_MAX_MB', 25, 1, 512),
  // Its several forms are read by parseTrustProxy, which names the form it could not read.
  TRUST_PROXY: z.preprocess(unsetIfEmpty, z.string().optional()),
  PUBLIC_URL: z.preprocess(unsetIfEmpty, z.string().optional()),
  METRICS_TOKEN: z.preprocess(unsetIfEmpty, z.string()
    .refine((value) => value.trim().length >= 16 && !/\s/.test(value), { error: 'METRICS_TOKEN must be at least 16 characters long, without spaces (Prometheus sends it as a bearer token)' })
    .optional()),
  ALERT_WEBHOOK_URL: z.preprocess(unsetIfEmpty, z.string()
    .refine((value) => URL.canParse(value.trim()) && /^https?:$/.test(new URL(value.trim()).protocol), {
      error: (issue) => `ALERT_WEBHOOK_URL must be an http:// or https:// address, such as https://chat.example.org/hooks/kb, not "${String(issue.input)}"`,
    })
    .transform((value) => value.trim())
    .optional()),
});

/** Validates against a schema; every problem, each naming its variable, in one error. */
function parseEnvironment<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv): z.output<S> {
  const result = schema.safeParse(env);
  if (!result.success) throw new ConfigError(result.error.issues.map((issue) => issue.message).join('; '));
  return result.data;
}

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * TRUST_PROXY: unset or "false" for none; "true" for any (only when the proxy overwrites
 * X-Forwarded-For); a whole number of hops; or a comma-separated list of proxy addresses, CIDR
 * ranges and the names loopback, linklocal, uniquelocal.
 */
export function parseTrustProxy(value: string | undefined): boolean | number | string[] {
  const given = (value ?? '').trim();
  if (given === '' || given.toLowerCase() === 'false') return false;
  if (given.toLowerCase() === 'true') return true;
  if (/^\d+$/.test(given)) {
    const hops = Number(given);
    if (hops > 20) throw new ConfigError(`TRUST_PROXY as a number of proxy hops must be from 0 to 20, not "${value}"`);
    return hops;
  }
  const entries = given.split(',').map((entry) => entry.trim());
  for (const entry of entries) {
    const [address, prefix, extra] = entry.split('/');
    const family = net.isIP(address);
    const prefixOk = prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= (family === 6 ? 128 : 32));
    if (!(PROXY_NAMES.has(entry) || (family !== 0 && prefixOk && extra === undefined))) {
      throw new ConfigError(`TRUST_PROXY must be true, false, a number of proxy hops, or a comma-separated list of proxy addresses, CIDR ranges, loopback, linklocal or uniquelocal; "${entry}" is none of these`);
    }
  }
  return entries;
}

// The webhook path and an account id follow PUBLIC_URL; X takes webhook URLs of at most 200 characters.
const PUBLIC_URL_MAX = 160;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * PUBLIC_URL: an https:// address with no port, query or fragment (X's rules for webhook URLs);
 * http:// and a port are allowed for loopback addresses only, which tests and a local sandbox use.
 */
export function parsePublicUrl(value: string | undefined): string | null {
  if (value === undefined) return null;
  const given = value.trim();
  if (!URL.canParse(given)) throw new ConfigError(`PUBLIC_URL must be an absolute address such as https://kb.example.org, not "${value}"`);
  const url = new URL(given);
  const loopback = LOOPBACK.has(url.hostname);
  if (url.protocol !== 'https:' && !(loopback && url.protocol === 'http:')) {
    throw new ConfigError(`PUBLIC_URL must start with https:// (X delivers webhooks over HTTPS only; http:// is allowed for 127.0.0.1, localhost and [::1]), not "${value}"`);
  }
  if (url.port !== '' && !loopback) throw new ConfigError(`PUBLIC_URL must not name a port (X accepts webhook URLs without one): "${value}"`);
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new ConfigError(`PUBLIC_URL must be a plain address without a query, fragment or user name: "${value}"`);
  }
  const clean = url.toString().replace(/\/+$/, '');
  if (clean.length > PUBLIC_URL_MAX) throw new ConfigError(`PUBLIC_URL has at most ${PUBLIC_URL_MAX} characters (X takes webhook URLs of at most 200), not ${clean.length}`);
  return clean;
}

/** SECRET_KEY from the environment, or one generated once into the data folder (mode 0600). */
function resolveSecretKey(value: string | undefined, dataDir: string, create: boolean): string {
  if (value !== undefined) {
    if (value.length < 16) throw new ConfigError('SECRET_KEY must be at least 16 characters long');
    return value;
  }
  const file = path.join(dataDir, 'secret.key');
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  if (!create) throw new ConfigError(`SECRET_KEY is not set and ${file} does not exist`);
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const key = crypto.randomBytes(32).toString('base64url');
  fs.writeFileSync(file, key + '\n', { mode: 0o600, flag: 'wx' });
  return key;
}

/** The only reader of process.env: everything else gets this frozen object. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, options: { createSecretKey?: boolean } = {}): Readonly<Config> {
  const vars = parseEnvironment(environmentSchema, env);
  const dataDir = path.resolve(vars.KBTS_DATA_DIR);
  const database = parseDatabase(vars.DATABASE_URL, dataDir);
  return Object.freeze({
    database: Object.freeze(database),
    host: vars.HOST,
    port: vars.PORT,
    secretKey: resolveSecretKey(vars.SECRET_KEY, dataDir, options.createSecretKey ?? true),
    logLevel: vars.LOG_LEVEL,
    dataDir,
    retryBaseMs: vars.KBTS_RETRY_BASE_MS,
    maxRateLimitWaitMs: vars.KBTS_MAX_RATE_LIMIT_WAIT_MS,
    replyOverlapSeconds: vars.KBTS_REPLY_OVERLAP_SECONDS,
    schedulerRefreshMs: vars.KBTS_SCHEDULER_REFRESH_MS,
    leaseSeconds: vars.KBTS_LEASE_SECONDS,
    changeCheckMs: vars.KBTS_CHANGE_CHECK_MS,
    publishSweepMs: vars.KBTS_PUBLISH_SWEEP_MS,
    maxPagesPerRead: vars.KBTS_MAX_PAGES_PER_READ,
    accountsAtOnce: vars.KBTS_ACCOUNTS_AT_ONCE,
    reconcileGraceSeconds: vars.KBTS_RECONCILE_GRACE_SECONDS,
    media: Object.freeze({ mediaDir: path.resolve(vars.KBTS_MEDIA_DIR ?? path.join(dataDir, 'media')), maxBytes: vars.KBTS_MEDIA_MAX_MB * MB }),
    trustProxy: parseTrustProxy(vars.TRUST_PROXY),
    publicUrl: parsePublicUrl(vars.PUBLIC_URL),
    metricsToken: vars.METRICS_TOKEN ?? null,
    alertWebhookUrl: vars.ALERT_WEBHOOK_URL ?? null,
    xPrices: vars.KBTS_X_PRICES,
    creditsProbeSeconds: vars.KBTS_CREDITS_PROBE_SECONDS,
  });
}

const X_CREDENTIALS = ['TWITTER_API_KEY', 'TWITTER_API_KEY_SECRET', 'TWITTER_ACCESS_TOKEN', 'TWITTER_ACCESS_TOKEN_SECRET'] as const;
const credentialsSchema = z.object(Object.fromEntries(X_CREDENTIALS.map((name) => [name, z.string().min(1)])) as Record<(typeof X_CREDENTIALS)[number], z.ZodString>);

/** X credentials for `account add`: from the environment only, never from arguments. */
export function readXCredentialsFromEnv(env: NodeJS.ProcessEnv = process.env) {
  const result = credentialsSchema.safeParse(env);
  if (!result.success) {
    const missing = X_CREDENTIALS.filter((name) => result.error.issues.some((issue) => issue.path[0] === name));
    throw new ConfigError(`set ${missing.join(', ')} in the environment (credentials are never taken as arguments)`);
  }
  return {
    apiKey: result.data.TWITTER_API_KEY,
    apiKeySecret: result.data.TWITTER_API_KEY_SECRET,
    accessToken: result.data.TWITTER_ACCESS_TOKEN,
    accessTokenSecret: result.data.TWITTER_ACCESS_TOKEN_SECRET,
  };
}

export function readPasswordFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.KBTS_PASSWORD || undefined;
}
