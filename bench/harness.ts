// What every scenario needs: the emulator in its own process, a fresh product (its own SQLite
// file, one account, one integration), a bare twitter-api-v2 client, the daemon as a process,
// and small statistics.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import Database from 'better-sqlite3';
import knexFactory from 'knex';
import type { TwitterApi } from 'twitter-api-v2';
import { buildServices, type Services } from '../src/app';
import { loadConfig } from '../src/config';
import { startEmulatorProcess, type EmulatorProcess as StartedEmulatorProcess } from '../src/emulator/process';
import { silentLogger } from '../src/lib/logger';
import { addAccount } from '../src/setup/account-setup';
import { addIntegration } from '../src/setup/integration-setup';
import { runPollCycle, type CycleCounts } from '../src/sync/poll-cycle';
import { createTwitterApi } from '../src/twitter/x-client-factory';

export const ROOT = path.resolve(__dirname, '..');
const TSX_LOADER = pathToFileURL(path.join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
export const SECRET_KEY = 'benchmark key, not for production';
// The benchmark measures the product, not X's quotas: every endpoint it uses gets room.
const UNLIMITED = ['POST /2/tweets', 'GET /2/users/:id/mentions', 'GET /2/users/:id/tweets', 'GET /2/tweets/search/recent', 'GET /2/users/me'];

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Collects this process's garbage, so the set-up's is not paid by whichever side is timed first. */
export function settle(): void {
  gc();
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function waitFor<T>(check: () => Promise<T | undefined | false>, what: string, timeoutMs: number, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export interface EmulatorUser {
  id: string;
  username: string;
  credentials: { api_key: string; api_key_secret: string; access_token: string; access_token_secret: string };
}

export interface ControlTweet {
  id: string;
  text: string;
  created_at: string;
  conversation_id: string;
}

/** The X API emulator as its own process, as X is another machine for the product. */
export class EmulatorProcess {
  private constructor(readonly url: string, private readonly started: StartedEmulatorProcess) {}

  static async start(): Promise<EmulatorProcess> {
    const started = await startEmulatorProcess();
    return new EmulatorProcess(started.url, started);
  }

  async control(method: string, route: string, body?: unknown): Promise<any> {
    const response = await fetch(`${this.url}/_emulator${route}`, {
      method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`emulator ${method} ${route} answered ${response.status}: ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /** Empty state between runs, so every run meets the same emulator. */
  async reset(): Promise<void> {
    await this.control('POST', '/reset');
    for (const endpoint of UNLIMITED) await this.control('POST', '/rate-limits', { endpoint, limit: 100_000_000 });
  }

  createUser(username: string): Promise<EmulatorUser> {
    return this.control('POST', '/users', { username });
  }

  async tweetsBy(username: string): Promise<ControlTweet[]> {
    return (await this.control('GET', `/tweets?author=${encodeURIComponent(username)}`)).tweets;
  }

  /** Replies from other users, `parallel` at a time (the emulator gives them increasing ids all the same). */
  async postReplies(replies: Array<{ as: string; text: string; to: string }>, parallel = 8): Promise<ControlTweet[]> {
    const posted: ControlTweet[] = new Array(replies.length);
    let next = 0;
    await Promise.all(Array.from({ length: parallel }, async () => {
      while (next < replies.length) {
        const index = next++;
        const reply = replies[index];
        posted[index] = await this.control('POST', '/tweets', { as: reply.as, text: reply.text, in_reply_to_tweet_id: reply.to });
      }
    }));
    return posted;
  }

  async stop(): Promise<void> {
    await this.started.close();
  }
}

export function bareClient(user: EmulatorUser, url: string): TwitterApi {
  const c = user.credentials;
  return createTwitterApi({ apiKey: c.api_key, apiKeySecret: c.api_key_secret, accessToken: c.access_token, accessTokenSecret: c.access_token_secret }, url);
}

/**
 * A fresh product: its own folder and SQLite file, the KB table `articles` holding
 * `existingRows` rows from before the integration, one account on the emulator, one integration.
 */
export class ProductWorld {
  private constructor(
    readonly dir: string,
    readonly services: Services,
    readonly user: EmulatorUser,
    readonly integrationId: number,
  ) {}

  static async create(emulator: EmulatorProcess, username: string, options: { existingRows?: number; schedule?: string } = {}): Promise<ProductWorld> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kbts-bench-'));
    const services = await buildServices(loadConfig(ProductWorld.envFor(dir)), { logger: silentLogger });
    try {
      return await ProductWorld.setUp(emulator, username, options, dir, services);
    } catch (error) {
      await services.close();
      fs.rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  private static async setUp(
    emulator: EmulatorProcess, username: string, options: { existingRows?: number; schedule?: string }, dir: string, services: Services,
  ): Promise<ProductWorld> {
    await services.db.raw('CREATE TABLE articles (id INTEGER PRIMARY KEY, tweet_text TEXT, replies TEXT, keep_going TEXT)');
    if (options.existingRows) fillExistingRows(path.join(dir, 'kb.sqlite3'), options.existingRows);
    const user = await emulator.createUser(username);
    const c = user.credentials;
    const account = await addAccount(services.accountSetup, {
      description: 'benchmark', environment: 'custom', apiBaseUrl: emulator.url,
      credentials: { apiKey: c.api_key, apiKeySecret: c.api_key_secret, accessToken: c.access_token, accessTokenSecret: c.access_token_secret },
    });
    const { integration } = await addIntegration(services.integrationSetup, {
      accountId: account.id, table: 'articles', tweetField: 'tweet_text', responseField: 'replies',
      responseMode: 'append', continueField: 'keep_going', schedule: options.schedule,
    });
    return new ProductWorld(dir, services, user, integration.id);
  }

  static envFor(dir: string): Record<string, string> {
    return { DATABASE_URL: path.join(dir, 'kb.sqlite3'), KBTS_DATA_DIR: dir, SECRET_KEY, LOG_LEVEL: 'silent' };
  }

  get file(): string {
    return path.join(this.dir, 'kb.sqlite3');
  }

  /** Inserts rows as any other KB writer would: its own connection, one transaction. */
  insertArticles(texts: string[]): void {
    const db = new Database(this.file);
    db.pragma('busy_timeout = 10000');
    const insert = db.prepare('INSERT INTO articles (tweet_text, keep_going) VALUES (?, ?)');
    db.transaction(() => { for (const text of texts) insert.run(text, 'Yes'); })();
    db.close();
  }

  /** Poll cycles until `records` are published (a cycle publishes at most its batch size). */
  async publishAll(records: number): Promise<{ cycles: number; apiCalls: number }> {
    let published = 0;
    let apiCalls = 0;
    let cycles = 0;
    while (published < records) {
      const counts: CycleCounts = await runPollCycle(this.services.sync);
      if (counts.errors.length > 0 || counts.published === 0) throw new Error(`publishing stalled at ${published} of ${records}: ${counts.errors.join('; ')}`);
      published += counts.published;
      apiCalls += counts.apiCalls;
      cycles++;
    }
    return { cycles, apiCalls };
  }

  async close(): Promise<void> {
    await this.services.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Closes the in-process services and leaves the files for a daemon. */
  async handOver(): Promise<void> {
    await this.services.close();
  }

  removeFiles(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function fillExistingRows(file: string, rows: number): void {
  const db = new Database(file);
  const insert = db.prepare('INSERT INTO articles (tweet_text, replies, keep_going) VALUES (?, ?, ?)');
  const CHUNK = 50_000;
  for (let start = 0; start < rows; start += CHUNK) {
    db.transaction(() => {
      for (let i = start; i < Math.min(rows, start + CHUNK); i++) insert.run(`An article written before the integration, number ${i}`, null, i % 3 === 0 ? 'No' : 'Yes');
    })();
  }
  db.close();
}

// The product compiled once per benchmark run, beside the checkout (so node finds its packages) and
// away from dist/, which bin/kb-twitter-sync.js would prefer over the source the tests run.
const BUILD_DIR = path.join(ROOT, '.bench-build');
let builtCli: string | null = null;

function compiledCli(): string {
  if (builtCli) return builtCli;
  const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json', '--outDir', BUILD_DIR], { cwd: ROOT, encoding: 'utf8' });
  if (tsc.status !== 0) throw new Error(`the product did not compile for the benchmark: ${(tsc.stdout + tsc.stderr).trim().slice(0, 2000)}`);
  builtCli = path.join(BUILD_DIR, 'src', 'cli.js');
  return builtCli;
}

/** The Node flags the product's launcher runs with (its `#!/usr/bin/env -S node …` line), so a daemon here runs as shipped. */
export function launcherNodeFlags(root = ROOT): string[] {
  const firstLine = fs.readFileSync(path.join(root, 'bin', 'kb-twitter-sync.js'), 'utf8').split('\n')[0];
  const flags = /^#!\/usr\/bin\/env -S node((?: --[\w-]+(?:=\S+)?)*)$/.exec(firstLine)?.[1];
  return flags ? flags.trim().split(' ') : [];
}

/** The product's daemon (`kb-twitter-sync poll`) as a real process, its log lines parsed. */
export class Daemon {
  readonly logLines: Array<Record<string, any>> = [];
  private constructor(readonly child: ChildProcess) {}

  /**
   * `root`: another checkout of the product to run from source (the benchmark's "before" figures);
   * `command`: `serve` for the web server too. This checkout runs compiled, as `npm run build` ships it.
   */
  static start(world: Pick<ProductWorld, 'dir'>, extraEnv: Record<string, string> = {}, root = ROOT, command: 'poll' | 'serve' = 'poll'): Daemon {
    // KBTS_BENCH_PROFILE_DIR: each daemon writes a V8 CPU profile there when it exits (for finding where time goes).
    const profile = process.env.KBTS_BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.KBTS_BENCH_PROFILE_DIR}`] : [];
    const program = root === ROOT ? [compiledCli()] : ['--import', TSX_LOADER, path.join(root, 'src', 'cli.ts')];
    const child = spawn(process.execPath, [...launcherNodeFlags(root), ...profile, ...program, command], {
      cwd: world.dir,
      env: {
        PATH: process.env.PATH, HOME: process.env.HOME, ...ProductWorld.envFor(world.dir), LOG_LEVEL: 'info',
        ...extraEnv,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const daemon = new Daemon(child);
    let partial = '';
    child.stderr!.on('data', (chunk) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        try { daemon.logLines.push(JSON.parse(line)); } catch { daemon.logLines.push({ message: line }); }
      }
    });
    return daemon;
  }

  static readonly runs = 'compiled by tsc, as `npm run build` ships it';

  ticks(): Array<Record<string, any>> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      const last = this.logLines.slice(-5).map((line) => line.error ?? line.message).join(' | ');
      throw new Error(`the daemon exited (${this.child.exitCode ?? this.child.signalCode}): ${last}`);
    }
    return this.logLines.filter((line) => line.message === 'poll finished');
  }

  /** Waits for the first tick after `after` (a count of ticks seen) that did some work. */
  async nextBusyTick(after: number, timeoutMs: number): Promise<Record<string, any>> {
    return waitFor(async () => this.ticks().slice(after).find((tick) => tick.published > 0 || tick.repliesLogged > 0 || tick.repliesApplied > 0), 'a tick that did work', timeoutMs, 10);
  }

  /** Peak resident set of the daemon's own process, and the current one of processes it started, in MB (from /proc). */
  memory(): { peakMb: number; helpersMb: number } {
    const helpers = fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name)).filter((pid) => {
      try {
        // The parent pid is the second field after the parenthesised command name.
        return Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]) === this.child.pid;
      } catch {
        return false;
      }
    });
    const helpersKb = helpers.reduce((sum, pid) => sum + statusKb(pid, 'VmRSS'), 0);
    return { peakMb: statusKb(String(this.child.pid), 'VmHWM') / 1024, helpersMb: helpersKb / 1024 };
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    await new Promise((resolve) => this.child.once('exit', resolve));
  }
}

function statusKb(pid: string, field: string): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** The q-quantile by the nearest-rank method. */
export function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function spread(values: number[], digits = 3): Spread {
  return { median: round(median(values), digits), min: round(Math.min(...values), digits), max: round(Math.max(...values), digits) };
}

export function round(value: number, digits = 3): number {
  return Number(value.toFixed(digits));
}

/** A random whole number of milliseconds in [low, high). */
export function jitter(low: number, high: number): number {
  return Math.floor(low + Math.random() * (high - low));
}

/** A new PostgreSQL database of its own and a folder, with the product's environment for them; `drop()` removes both. */
export async function postgresScratch(serverUrl: string, prefix: string): Promise<{ url: string; dir: string; env: Record<string, string>; drop(): Promise<void> }> {
  const name = `${prefix}_${Date.now()}`;
  const admin = knexFactory({ client: 'pg', connection: serverUrl });
  await admin.raw(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix.replace(/_/g, '-')}-`));
  const env = { ...ProductWorld.envFor(dir), DATABASE_URL: url.toString(), SECRET_KEY };
  const drop = async () => {
    await admin.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
    await admin.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { url: url.toString(), dir, env, drop };
}

/**
 * A scenario's own PostgreSQL database with the `articles` table and one integration on a new
 * emulator user, its reply polling at `schedule`: what the real-time scenarios start their
 * products on. `seed` runs on the services before they close; `drop()` removes it all.
 */
export async function postgresArticlesWorld(
  emulator: EmulatorProcess, serverUrl: string, options: { prefix: string; username: string; schedule: string; seed?: (services: Services) => Promise<void> },
): Promise<{ url: string; dir: string; env: Record<string, string>; accountId: number; username: string; drop(): Promise<void> }> {
  const { url, dir, env, drop } = await postgresScratch(serverUrl, options.prefix);
  try {
    const services = await buildServices(loadConfig(env), { logger: silentLogger });
    try {
      const user = await emulator.createUser(options.username);
      await services.db.raw('CREATE TABLE articles (id SERIAL PRIMARY KEY, tweet_text TEXT, replies TEXT, keep_going TEXT)');
      const c = user.credentials;
      const account = await addAccount(services.accountSetup, {
        description: 'benchmark', environment: 'custom', apiBaseUrl: emulator.url,
        credentials: { apiKey: c.api_key, apiKeySecret: c.api_key_secret, accessToken: c.access_token, accessTokenSecret: c.access_token_secret },
      });
      await addIntegration(services.integrationSetup, {
        accountId: account.id, table: 'articles', tweetField: 'tweet_text', responseField: 'replies', responseMode: 'append', continueField: 'keep_going', schedule: options.schedule,
      });
      await options.seed?.(services);
      return { url, dir, env, accountId: account.id, username: user.username, drop };
    } finally {
      await services.close();
    }
  } catch (error) {
    await drop();
    throw error;
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = (probe.address() as net.AddressInfo);
      probe.close(() => resolve(port));
    });
  });
}

/** The admin's way in: `kb-twitter-sync account webhook enable ID`, as a process of its own. */
export function enableWebhookByCli(dir: string, env: Record<string, string>, accountId: number): Promise<void> {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, path.join(ROOT, 'src', 'cli.ts'), 'account', 'webhook', 'enable', String(accountId)], {
    cwd: dir, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env, LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => { output += chunk; });
  child.stderr!.on('data', (chunk) => { output += chunk; });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => (code === 0 && /real-time replies are on/.test(output) ? resolve() : reject(new Error(`account webhook enable ${accountId} failed (${code}): ${output.trim()}`))));
  });
}

/** `serve` in its own process on a free loopback port, PUBLIC_URL pointing at it; resolves once it serves. */
export async function startServe(dir: string, env: Record<string, string>): Promise<{ server: Daemon; env: Record<string, string>; url: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // The harness reads serve's info log to see it start.
  const serveEnv = { ...env, PORT: String(port), PUBLIC_URL: url, LOG_LEVEL: 'info' };
  const server = Daemon.start({ dir }, serveEnv, ROOT, 'serve');
  try {
    await waitFor(async () => server.logLines.some((line) => line.message === 'kb-twitter-sync is serving') || (server.ticks(), false), 'serve to start', 60_000);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return { server, env: serveEnv, url };
}
