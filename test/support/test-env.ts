import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { buildServices, type Services } from '../../src/app';
import { loadConfig } from '../../src/config';
import { startEmulator } from '../../src/emulator/emulator';
import { silentLogger } from '../../src/lib/logger';

const ROOT = path.resolve(__dirname, '..', '..');
// Resolved from the project, because the CLI runs with the test folder as its working directory.
const TSX_LOADER = pathToFileURL(path.join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json: any;
}

export interface EmulatorUser {
  id: string;
  username: string;
  credentials: { api_key: string; api_key_secret: string; access_token: string; access_token_secret: string };
}

/**
 * One test world: a real SQLite file in a temporary folder, the X API emulator on a real
 * port, the CLI run as separate processes, and the KB written through its own connection.
 */
export class TestEnv {
  private servicesInstance: Services | null = null;

  private constructor(
    readonly dir: string,
    readonly dbFile: string,
    readonly emulator: Awaited<ReturnType<typeof startEmulator>>,
  ) {}

  static async create(): Promise<TestEnv> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kbts-test-'));
    const emulator = await startEmulator({ port: 0 });
    const env = new TestEnv(dir, path.join(dir, 'kb.sqlite3'), emulator);
    const migrated = await env.cli(['migrate']);
    if (migrated.code !== 0) throw new Error(`migrate failed: ${migrated.stderr}`);
    return env;
  }

  get env(): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATABASE_URL: this.dbFile,
      KBTS_DATA_DIR: this.dir,
      SECRET_KEY: 'test secret key, not for production use',
      LOG_LEVEL: 'silent',
      KBTS_RETRY_BASE_MS: '20',
      KBTS_MAX_RATE_LIMIT_WAIT_MS: '10000',
    };
  }

  /** Runs the real command line in its own process. */
  cli(args: string[], extraEnv: NodeJS.ProcessEnv = {}, input?: string): Promise<CliResult> {
    return new Promise((resolve) => {
      const child = execFile(process.execPath, ['--import', TSX_LOADER, path.join(ROOT, 'src', 'cli.ts'), ...args], {
        cwd: this.dir, env: { ...this.env, ...extraEnv }, timeout: 60_000,
      }, (error, stdout, stderr) => {
        let json: any = null;
        try { json = JSON.parse(stdout.trim().split('\n').pop() || 'null'); } catch { /* human output */ }
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr, json });
      });
      if (input !== undefined) child.stdin?.end(input);
    });
  }

  /** Starts `serve` as a daemon process and resolves with its URL once it listens. */
  async startServe(extraEnv: NodeJS.ProcessEnv = {}): Promise<{ url: string; stop(): Promise<void> }> {
    const daemon = spawn(process.execPath, ['--import', TSX_LOADER, path.join(ROOT, 'src', 'cli.ts'), 'serve'], {
      cwd: this.dir, env: { ...this.env, PORT: '0', ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stop = async () => {
      if (daemon.exitCode !== null) return;
      daemon.kill('SIGTERM');
      await new Promise((resolve) => daemon.once('exit', resolve));
    };
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let output = '';
        daemon.stdout.on('data', (chunk) => {
          output += chunk;
          const match = /listening on (http:\/\/\S+)/.exec(output);
          if (match) resolve(match[1]);
        });
        daemon.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
      });
      return { url, stop };
    } catch (error) {
      await stop();
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

  /** Inserts with plain SQL from another OS process with its own SQLite connection. */
  insertFromOtherProcess(sql: string, rows: unknown[][]): Promise<void> {
    const script = `const db = new (require('better-sqlite3'))(${JSON.stringify(this.dbFile)});
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

  /** `account add` through the CLI, pointed at the emulator; returns the account id. */
  async addAccount(user: EmulatorUser): Promise<number> {
    const result = await this.cli(['--json', 'account', 'add', '--description', `${user.username} test account`, '--api-base-url', this.emulator.url], this.credentialsEnv(user));
    if (result.code !== 0) throw new Error(`account add failed: ${result.stderr}`);
    return result.json.id;
  }

  async addIntegration(options: Record<string, string>): Promise<number> {
    const args = ['--json', 'integration', 'add'];
    for (const [key, value] of Object.entries(options)) args.push(`--${key}`, value);
    const result = await this.cli(args);
    if (result.code !== 0) throw new Error(`integration add failed: ${result.stderr}`);
    return result.json.id;
  }

  async tweetsBy(username: string): Promise<Array<{ id: string; text: string; conversation_id: string; in_reply_to_user_id?: string; referenced_tweets?: Array<{ type: string; id: string }> }>> {
    return (await this.control('GET', `/tweets?author=${encodeURIComponent(username)}`)).tweets;
  }

  replyAs(username: string, inReplyTo: string, text: string, extra: Record<string, unknown> = {}): Promise<{ id: string; created_at: string }> {
    return this.control('POST', '/tweets', { as: username, text, in_reply_to_tweet_id: inReplyTo, ...extra });
  }

  async close(): Promise<void> {
    if (this.servicesInstance) await this.servicesInstance.close();
    await this.emulator.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The KB table most tests map: a text to tweet, a replies field and a Yes/No field. */
export const ARTICLES_TABLE = `CREATE TABLE articles (
  id INTEGER PRIMARY KEY,
  title TEXT NOT NULL,
  tweet_text TEXT,
  replies TEXT,
  keep_going TEXT
)`;
