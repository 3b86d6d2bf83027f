import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ConfigError } from './lib/errors';
import type { LogLevel } from './lib/logger';

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
  /**
   * Express's `trust proxy`: false (no proxy, the default), a number of proxy hops, or the
   * addresses of the proxies. Behind a trusted proxy the client's address comes from
   * X-Forwarded-For and HTTPS from X-Forwarded-Proto.
   */
  trustProxy: boolean | number | string[];
}

const LOG_LEVELS: LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

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

function parseInteger(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, not "${value}"`);
  }
  return parsed;
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
  const dataDir = path.resolve(env.KBTS_DATA_DIR || './data');
  const logLevel = (env.LOG_LEVEL || 'info').toLowerCase() as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, not "${env.LOG_LEVEL}"`);
  }
  const database = parseDatabase(env.DATABASE_URL, dataDir);
  return Object.freeze({
    database: Object.freeze(database),
    host: env.HOST || '127.0.0.1',
    port: parseInteger('PORT', env.PORT, 3000, 0, 65535),
    secretKey: resolveSecretKey(env.SECRET_KEY, dataDir, options.createSecretKey ?? true),
    logLevel,
    dataDir,
    retryBaseMs: parseInteger('KBTS_RETRY_BASE_MS', env.KBTS_RETRY_BASE_MS, 1000, 1, 600_000),
    maxRateLimitWaitMs: parseInteger('KBTS_MAX_RATE_LIMIT_WAIT_MS', env.KBTS_MAX_RATE_LIMIT_WAIT_MS, 60_000, 0, 3_600_000),
    replyOverlapSeconds: parseInteger('KBTS_REPLY_OVERLAP_SECONDS', env.KBTS_REPLY_OVERLAP_SECONDS, 60, 0, 86_400),
    schedulerRefreshMs: parseInteger('KBTS_SCHEDULER_REFRESH_MS', env.KBTS_SCHEDULER_REFRESH_MS, 30_000, 100, 3_600_000),
    leaseSeconds: parseInteger('KBTS_LEASE_SECONDS', env.KBTS_LEASE_SECONDS, 60, 2, 3600),
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
  });
}

/** X credentials for `account add`: from the environment only, never from arguments. */
export function readXCredentialsFromEnv(env: NodeJS.ProcessEnv = process.env) {
  const names = ['TWITTER_API_KEY', 'TWITTER_API_KEY_SECRET', 'TWITTER_ACCESS_TOKEN', 'TWITTER_ACCESS_TOKEN_SECRET'] as const;
  const missing = names.filter((name) => !env[name]);
  if (missing.length > 0) throw new ConfigError(`set ${missing.join(', ')} in the environment (credentials are never taken as arguments)`);
  return {
    apiKey: env.TWITTER_API_KEY as string,
    apiKeySecret: env.TWITTER_API_KEY_SECRET as string,
    accessToken: env.TWITTER_ACCESS_TOKEN as string,
    accessTokenSecret: env.TWITTER_ACCESS_TOKEN_SECRET as string,
  };
}

export function readPasswordFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.KBTS_PASSWORD || undefined;
}
