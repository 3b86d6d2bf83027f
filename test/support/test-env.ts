import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import crypto from 'node:crypto';
import Database from 'better-sqlite3';
import knexFactory, { type Knex } from 'knex';
import { DateTime } from 'luxon';
import { buildServices, type Services } from '../../src/app';
import { loadConfig, readXCredentialsFromEnv } from '../../src/config';
import { createDb, migrateToLatest } from '../../src/db/database';
import { startEmulator } from '../../src/emulator/emulator';
import { startEmulatorProcess as startEmulatorProcessFromSource } from '../../src/emulator/process';
import { silentLogger } from '../../src/lib/logger';
import { addAccount } from '../../src/setup/account-setup';
import { addIntegration } from '../../src/setup/integration-setup';
import { runPollCycle, type CycleCounts } from '../../src/sync/poll-cycle';

const ROOT = path.resolve(__dirname, '..', '..');
// Resolved from the project, because the CLI runs with the test folder as its working directory.
const TSX_LOADER = pathToFileURL(path.join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json: any;
}

/** What `--json poll --once` prints. */
export interface PollSummary {
  published: number;
  skipped: number;
  failed: number;
  deferred: number;
  replies_applied: number;
  replies_logged: number;
  api_calls: number;
  accounts_busy: number;
  errors: string[];
}

function pollSummary(counts: CycleCounts): PollSummary {
  return {
    published: counts.published, skipped: counts.skipped, failed: counts.failed, deferred: counts.deferred,
    replies_applied: counts.repliesApplied, replies_logged: counts.repliesLogged, api_calls: counts.apiCalls,
    accounts_busy: counts.accountsBusy, errors: counts.errors,
  };
}

export interface EmulatorUser {
  id: string;
  username: string;
  credentials: { api_key: string; api_key_secret: string; access_token: string; access_token_secret: string };
}

export type TestDatabase = 'sqlite' | 'postgres';

/**
 * libfaketime's variables (`faketime -f '+120d' npx mocha …`): the product's processes must keep
 * the test's clock, or they and the in-process emulator would disagree by months.
 */
export const CLOCK_ENV: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env)
  .filter(([name]) => /^(LD_PRELOAD|FAKETIME\w*|DONT_FAKE_MONOTONIC|DYLD_INSERT_LIBRARIES|DYLD_FORCE_FLAT_NAMESPACE)$/.test(name)));

/** The X API emulator in a process of its own (src/emulator/process.ts), keeping the test's clock. */
export function startEmulatorProcess(options: { clock?: string } = {}): Promise<{ url: string; close(): Promise<void> }> {
  return startEmulatorProcessFromSource({ ...options, env: { ...process.env, ...CLOCK_ENV } });
}

export interface Daemon {
  child: ChildProcess;
  stdout: string;
  /** Parsed JSON log lines from stderr. */
  logLines: Array<Record<string, any>>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** The databases the integration suite runs on: SQLite always, PostgreSQL when a server is given. */
export const POSTGRES_URL = process.env.KBTS_TEST_POSTGRES_URL;
export const TEST_DATABASES: TestDatabase[] = POSTGRES_URL ? ['sqlite', 'postgres'] : ['sqlite'];
if (!POSTGRES_URL && process.env.CI) {
  throw new Error('CI runs the integration suite on PostgreSQL too: set KBTS_TEST_POSTGRES_URL (see .ci/run)');
}

/** Registers a suite once per test database, its title saying which. */
export function describeEachDatabase(title: string, body: (database: TestDatabase) => void): void {
  for (const database of TEST_DATABASES) {
    describe(`${title} [${database}]`, function () {
      this.timeout(120_000);
      body(database);
    });
  }
}

function withDatabaseName(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

/**
 * One test world: a real database (a SQLite file in a temporary folder, or a fresh database on
 * the PostgreSQL test server), the X API emulator on a real port, the CLI run as separate
 * processes, and the KB written through its own connection.
 */
export class TestEnv {
  private servicesInstance: Services | null = null;
  private writer: Knex | null = null;

  private constructor(
    readonly dir: string,
    readonly database: TestDatabase,
    /** A SQLite file path or a PostgreSQL URL. */
    readonly databaseUrl: string,
    readonly emulator: { url: string; close(): Promise<void> },
  ) {}

  /**
   * `emulatorUrl`: use an emulator that runs elsewhere (another process) instead of starting one
   * in this process; it is left running at close.
   */
  static async create(database: TestDatabase = 'sqlite', options: { migrate?: boolean; emulatorUrl?: string } = {}): Promise<TestEnv> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kbts-test-'));
    let databaseUrl = path.join(dir, 'kb.sqlite3');
    if (database === 'postgres') {
      if (!POSTGRES_URL) throw new Error('KBTS_TEST_POSTGRES_URL is not set');
      const name = `kbts_test_${crypto.randomBytes(6).toString('hex')}`;
      const admin = knexFactory({ client: 'pg', connection: POSTGRES_URL });
      try {
        await admin.raw(`CREATE DATABASE ${name}`);
      } finally {
        await admin.destroy();
      }
      databaseUrl = withDatabaseName(POSTGRES_URL, name);
    }
    const emulator = options.emulatorUrl
      ? { url: options.emulatorUrl, close: async () => undefined }
      : await startEmulator({ port: 0 });
    const env = new TestEnv(dir, database, databaseUrl, emulator);
    if (options.migrate !== false) await env.migrate();
    return env;
  }

  /** `migrate` in this process (the command line's own run of it is cli.test.ts's to test). */
  async migrate(): Promise<string[]> {
    const db = createDb(loadConfig(this.env).database);
    try {
      return await migrateToLatest(db);
    } finally {
      await db.destroy();
    }
  }

  /** Kept for tests that read the SQLite file itself. */
  get dbFile(): string {
    if (this.database !== 'sqlite') throw new Error('dbFile is for SQLite worlds only');
    return this.databaseUrl;
  }

  /** The column type of an auto-numbered primary key in this world's database. */
  get autoId(): string {
    return this.database === 'postgres' ? 'SERIAL PRIMARY KEY' : 'INTEGER PRIMARY KEY';
  }

  /**
   * Plain SQL (with ? placeholders) through a connection of its own, as any other KB writer
   * would have; returns the rows of a query.
   */
  async sql<T = Record<string, any>>(query: string, bindings: unknown[] = []): Promise<T[]> {
    if (!this.writer) {
      this.writer = this.database === 'postgres'
        ? knexFactory({ client: 'pg', connection: this.databaseUrl, pool: { min: 0, max: 2 } })
        : knexFactory({ client: 'better-sqlite3', connection: { filename: this.databaseUrl }, useNullAsDefault: true });
    }
    // Without bindings the text goes as it is on SQLite, so a "?" inside a quoted name stays a "?"
    // (knex numbers every "?" for PostgreSQL all the same: write such a name with quoteIdentifier).
    const result = bindings.length > 0 ? await this.writer.raw(query, bindings as Knex.RawBinding[]) : await this.writer.raw(query);
    return (this.database === 'postgres' ? result.rows : result) as T[];
  }

  get env(): NodeJS.ProcessEnv {
    return {
      ...CLOCK_ENV,
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATABASE_URL: this.databaseUrl,
      KBTS_DATA_DIR: this.dir,
      SECRET_KEY: 'test secret key, not for production use',
      LOG_LEVEL: 'silent',
      KBTS_RETRY_BASE_MS: '20',
      KBTS_MAX_RATE_LIMIT_WAIT_MS: '10000',
      // The emulator shows a new post at once unless a test turns its timeline delay on
      // (test/integration/late-timeline.test.ts), so a lost answer that hid no post is retried at once.
      KBTS_RECONCILE_GRACE_SECONDS: '0',
    };
  }

  /**
   * Runs the real command line in its own process. `honourFileModes`: when the tests run as root,
   * the command runs without root's power to override file modes (CAP_DAC_OVERRIDE and
   * CAP_DAC_READ_SEARCH leave its bounding set), so a file of mode 0444 is read-only for it while
   * it still reads the checkout wherever that lives.
   */
  cli(args: string[], extraEnv: NodeJS.ProcessEnv = {}, input?: string, options: { asUser?: string; honourFileModes?: boolean } = {}): Promise<CliResult> {
    let command = [process.execPath, '--import', TSX_LOADER, path.join(ROOT, 'src', 'cli.ts'), ...args];
    if (options.honourFileModes && process.getuid?.() === 0) command = ['setpriv', '--bounding-set=-dac_override,-dac_read_search', '--', ...command];
    // runuser keeps the environment given here, so the command sees the same configuration.
    const [file, ...fileArgs] = options.asUser ? ['runuser', '-u', options.asUser, '--', ...command] : command;
    return new Promise((resolve) => {
      const child = execFile(file, fileArgs, {
        cwd: this.dir, env: { ...this.env, ...extraEnv }, timeout: 60_000,
      }, (error, stdout, stderr) => {
        let json: any = null;
        try { json = JSON.parse(stdout.trim().split('\n').pop() || 'null'); } catch { /* human output */ }
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr, json });
      });
      if (input !== undefined) child.stdin?.end(input);
    });
  }

  /** Starts a long-running command (`serve`, `poll`) as its own process, with its stderr log lines kept. */
  startDaemon(args: string[], extraEnv: NodeJS.ProcessEnv = {}, options: { fileSizeBlocks?: number } = {}): Daemon {
    const command = [process.execPath, '--import', TSX_LOADER, path.join(ROOT, 'src', 'cli.ts'), ...args];
    // A file-size limit (ulimit -f, in 512-byte blocks) makes the database "full" for this process alone.
    const [file, ...fileArgs] = options.fileSizeBlocks
      ? ['sh', '-c', `ulimit -S -f ${options.fileSizeBlocks} && exec "$0" "$@"`, ...command]
      : command;
    const child = spawn(file, fileArgs, {
      cwd: this.dir, env: { ...this.env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const daemon: Daemon = {
      child,
      stdout: '',
      logLines: [],
      async stop(signal: NodeJS.Signals = 'SIGTERM') {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill(signal);
        await new Promise((resolve) => child.once('exit', resolve));
      },
    };
    child.stdout.on('data', (chunk) => { daemon.stdout += chunk; });
    let partial = '';
    child.stderr.on('data', (chunk) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        try { daemon.logLines.push(JSON.parse(line)); } catch { daemon.logLines.push({ message: line }); }
      }
    });
    return daemon;
  }

  /** Starts `serve` as a daemon process and resolves with its URL once it listens. */
  async startServe(extraEnv: NodeJS.ProcessEnv = {}): Promise<{ url: string; stop(): Promise<void> }> {
    const daemon = this.startDaemon(['serve'], { PORT: '0', ...extraEnv });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        daemon.child.stdout!.on('data', () => {
          const match = /listening on (http:\/\/\S+)/.exec(daemon.stdout);
          if (match) resolve(match[1]);
        });
        daemon.child.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
      });
      return { url, stop: () => daemon.stop() };
    } catch (error) {
      await daemon.stop();
      throw error;
    }
  }

  /** The product's services in this process, on the same file (for reading state and fast cycles). */
  async services(): Promise<Services> {
    if (!this.servicesInstance) {
      this.servicesInstance = await buildServices(loadConfig(this.env), { logger: silentLogger });
    }
    return this.servicesInstance;
  }

  /**
   * Runs `work` on services of their own, built as a new `kb-twitter-sync` process would build
   * them (its own worker id and connections, `extraEnv` over this world's environment), then
   * closes them: the command line's work without the second of start-up a process costs.
   */
  async asNewProcess<T>(work: (services: Services) => Promise<T>, extraEnv: NodeJS.ProcessEnv = {}): Promise<T> {
    const services = await buildServices(loadConfig({ ...this.env, ...extraEnv }), { logger: silentLogger, migrate: false });
    try {
      return await work(services);
    } finally {
      await services.close();
    }
  }

  /** `poll --once` (for one integration, if given) in this process, answering what `--json` prints. */
  pollOnce(extraEnv: NodeJS.ProcessEnv = {}, options: { integrationId?: number } = {}): Promise<PollSummary> {
    return this.asNewProcess(async (services) => pollSummary(await runPollCycle(services.sync, options)), extraEnv);
  }

  /** A separate connection, as any other KB writer would have. */
  kb<T>(work: (db: Database.Database) => T): T {
    const db = new Database(this.dbFile);
    db.pragma('busy_timeout = 10000');
    try {
      return work(db);
    } finally {
      db.close();
    }
  }

  /** Inserts with plain SQL (? placeholders) from another OS process with its own connection. */
  insertFromOtherProcess(sql: string, rows: unknown[][]): Promise<void> {
    let placeholder = 0;
    const script = this.database === 'postgres'
      ? `const { Client } = require('pg');
        (async () => {
          const client = new Client({ connectionString: ${JSON.stringify(this.databaseUrl)} });
          await client.connect();
          for (const row of ${JSON.stringify(rows)}) await client.query(${JSON.stringify(sql.replace(/\?/g, () => `$${++placeholder}`))}, row);
          await client.end();
        })().catch((error) => { console.error(error); process.exit(1); });`
      : `const db = new (require('better-sqlite3'))(${JSON.stringify(this.databaseUrl)});
        db.pragma('busy_timeout = 10000');
        const insert = db.prepare(${JSON.stringify(sql)});
        for (const row of ${JSON.stringify(rows)}) insert.run(...row);
        db.close();`;
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', script], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk) => { stderr += chunk; });
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`insert failed: ${stderr}`))));
    });
  }

  async control(method: string, route: string, body?: unknown): Promise<any> {
    const response = await fetch(`${this.emulator.url}/_emulator${route}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`emulator ${method} ${route} answered ${response.status}: ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /** The emulator's clock: the time every date in a test is relative to. */
  async emulatorNow(): Promise<DateTime> {
    return DateTime.fromISO((await this.control('GET', '/clock')).now, { zone: 'utc' });
  }

  /** Sets (`{now: ISO}`) or moves forward (`{advance_ms: N}`) the emulator's clock. */
  async setEmulatorClock(change: { now: string } | { advance_ms: number }): Promise<DateTime> {
    return DateTime.fromISO((await this.control('POST', '/clock', change)).now, { zone: 'utc' });
  }

  createXUser(username: string): Promise<EmulatorUser> {
    return this.control('POST', '/users', { username });
  }

  credentialsEnv(user: EmulatorUser): NodeJS.ProcessEnv {
    return {
      TWITTER_API_KEY: user.credentials.api_key,
      TWITTER_API_KEY_SECRET: user.credentials.api_key_secret,
      TWITTER_ACCESS_TOKEN: user.credentials.access_token,
      TWITTER_ACCESS_TOKEN_SECRET: user.credentials.access_token_secret,
    };
  }

  /**
   * What `account add --api-base-url <emulator>` does, in this process; returns the account id.
   * (cli.test.ts runs the command itself.)
   */
  addAccount(user: EmulatorUser): Promise<number> {
    return this.asNewProcess(async (services) => (await addAccount(services.accountSetup, {
      description: `${user.username} test account`,
      environment: 'custom',
      apiBaseUrl: this.emulator.url,
      credentials: readXCredentialsFromEnv(this.credentialsEnv(user)),
    })).id);
  }

  /**
   * What `integration add` does with these options (named as on the command line: `tweet-field`,
   * `every`, `long-text`, `backfill: 'true'`…, with the command's defaults), in this process;
   * returns the integration id. (cli.test.ts and integration-setup.test.ts run the command itself.)
   */
  addIntegration(options: Record<string, string>): Promise<number> {
    const known = new Set(['account', 'table', 'tweet-field', 'response-field', 'mode', 'continue-field', 'every', 'timezone', 'long-text', 'backfill', 'media-field']);
    const unknown = Object.keys(options).filter((name) => !known.has(name));
    if (unknown.length > 0) throw new Error(`integration add has no option --${unknown.join(', --')}`);
    return this.asNewProcess(async (services) => (await addIntegration(services.integrationSetup, {
      accountId: Number(options.account),
      table: options.table,
      tweetField: options['tweet-field'],
      responseField: options['response-field'],
      responseMode: options.mode,
      continueField: options['continue-field'],
      schedule: options.every ?? '*/5 * * * *',
      timeZone: options.timezone ?? 'UTC',
      longTextPolicy: options['long-text'] ?? 'reject',
      backfill: options.backfill !== undefined && options.backfill !== 'false',
      mediaField: options['media-field'],
    })).integration.id);
  }

  /** The integration most sync tests use: the articles table into `replies`, continue field `keep_going`. */
  addArticlesIntegration(accountId: number, options: Record<string, string> = {}): Promise<number> {
    return this.addIntegration({
      account: String(accountId), table: 'articles', 'tweet-field': 'tweet_text', 'response-field': 'replies',
      mode: 'append', 'continue-field': 'keep_going', ...options,
    });
  }

  async tweetsBy(username: string): Promise<Array<{ id: string; text: string; conversation_id: string; in_reply_to_user_id?: string; referenced_tweets?: Array<{ type: string; id: string }> }>> {
    return (await this.control('GET', `/tweets?author=${encodeURIComponent(username)}`)).tweets;
  }

  replyAs(username: string, inReplyTo: string, text: string, extra: Record<string, unknown> = {}): Promise<{ id: string; created_at: string }> {
    return this.control('POST', '/tweets', { as: username, text, in_reply_to_tweet_id: inReplyTo, ...extra });
  }

  async close(): Promise<void> {
    if (this.servicesInstance) await this.servicesInstance.close();
    if (this.writer) await this.writer.destroy();
    await this.emulator.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
    if (this.database === 'postgres' && POSTGRES_URL) {
      const admin = knexFactory({ client: 'pg', connection: POSTGRES_URL });
      try {
        await admin.raw(`DROP DATABASE IF EXISTS ${new URL(this.databaseUrl).pathname.slice(1)} WITH (FORCE)`);
      } finally {
        await admin.destroy();
      }
    }
  }
}

export interface ArticlesWorld {
  world: TestEnv;
  account: EmulatorUser;
  accountId: number;
  integrationId: number;
}

/**
 * The world most sync tests start from: the articles table, the X user `username` (default
 * kb_news) added as an account, and the articles integration (with `integration`'s options over
 * the defaults).
 */
export async function createArticlesWorld(database: TestDatabase, options: { username?: string; integration?: Record<string, string> } = {}): Promise<ArticlesWorld> {
  const world = await TestEnv.create(database);
  try {
    await world.sql(articlesTable(world));
    const account = await world.createXUser(options.username ?? 'kb_news');
    const accountId = await world.addAccount(account);
    const integrationId = await world.addArticlesIntegration(accountId, options.integration);
    return { world, account, accountId, integrationId };
  } catch (error) {
    await world.close();
    throw error;
  }
}

/** The KB table most tests map: a text to tweet, a replies field and a Yes/No field. */
export const articlesTable = (world: TestEnv) => `CREATE TABLE articles (
  id ${world.autoId},
  title TEXT NOT NULL,
  tweet_text TEXT,
  replies TEXT,
  keep_going TEXT
)`;

/** The same table for tests that only ever run on SQLite. */
export const ARTICLES_TABLE = `CREATE TABLE articles (
  id INTEGER PRIMARY KEY,
  title TEXT NOT NULL,
  tweet_text TEXT,
  replies TEXT,
  keep_going TEXT
)`;
