// Integrations sharing one account (issue 11): 60 integrations on one X account, replies polled
// every 5 s, records arriving at random moments into random tables. Before tweet-on-commit, a tick
// that found the account's lease taken by another integration's tick was skipped until its next
// schedule, so records waited for each other. Run on its own:
//   npx tsx bench/shared-account.ts [--root OTHER_CHECKOUT] [--json]
// `--root` runs another checkout's daemon and set-up code (e.g. the commit before, exported with
// `git archive`, with a node_modules link) against the same emulator and the same load.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { Daemon, EmulatorProcess, jitter, median, quantile, ROOT, round, SECRET_KEY, sleep, waitFor } from './harness';

const EVERY_5_SECONDS = '*/5 * * * * *';

export interface SharedAccountFigures {
  integrations: number;
  records: number;
  insert_to_tweet_ms: { median: number; p95: number; max: number };
  /** Records not tweeted when the benchmark stopped waiting (their latency is above max). */
  not_tweeted: number;
  /** The daemon's runs (each a reply poll, a publish, or both), as it logs them. */
  run_ms: { median: number; max: number; runs: number };
}

/** The product's set-up functions from a checkout (this one, or the "before" one). */
async function productAt(root: string) {
  const load = (file: string) => import(pathToFileURL(path.join(root, file)).href);
  const [app, config, logger, accountSetup, integrationSetup] = await Promise.all([
    load('src/app.ts'), load('src/config.ts'), load('src/lib/logger.ts'), load('src/setup/account-setup.ts'), load('src/setup/integration-setup.ts'),
  ]);
  return { buildServices: app.buildServices, loadConfig: config.loadConfig, silentLogger: logger.silentLogger, addAccount: accountSetup.addAccount, addIntegration: integrationSetup.addIntegration };
}

export async function sharedAccount(
  emulator: EmulatorProcess, options: { integrations: number; records: number; windowMs: number; root?: string; waitMs?: number },
): Promise<SharedAccountFigures> {
  const root = options.root ?? ROOT;
  const product = await productAt(root);
  await emulator.reset();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kbts-bench-shared-'));
  const env = { DATABASE_URL: path.join(dir, 'kb.sqlite3'), KBTS_DATA_DIR: dir, SECRET_KEY, LOG_LEVEL: 'silent' };
  try {
    const services = await product.buildServices(product.loadConfig(env), { logger: product.silentLogger });
    try {
      const user = await emulator.createUser('bench_shared');
      const c = user.credentials;
      const account = await product.addAccount(services.accountSetup, {
        description: 'benchmark', environment: 'custom', apiBaseUrl: emulator.url,
        credentials: { apiKey: c.api_key, apiKeySecret: c.api_key_secret, accessToken: c.access_token, accessTokenSecret: c.access_token_secret },
      });
      for (let i = 1; i <= options.integrations; i++) {
        await services.db.raw(`CREATE TABLE notes_${i} (id INTEGER PRIMARY KEY, tweet_text TEXT, replies TEXT, keep_going TEXT)`);
        await product.addIntegration(services.integrationSetup, {
          accountId: account.id, table: `notes_${i}`, tweetField: 'tweet_text', responseField: 'replies',
          responseMode: 'append', continueField: 'keep_going', schedule: EVERY_5_SECONDS,
        });
      }
    } finally {
      await services.close();
    }

    const daemon = Daemon.start({ dir }, {}, root);
    try {
      await waitFor(async () => daemon.ticks().length > 0, "the daemon's first tick", 60_000);
      const writer = new Database(env.DATABASE_URL);
      writer.pragma('busy_timeout = 10000');
      const inserted = new Map<string, number>();
      const start = Date.now();
      const slice = options.windowMs / options.records;
      const moments = Array.from({ length: options.records }, (_, index) => Math.floor(index * slice) + jitter(0, slice));
      for (const [index, at] of moments.entries()) {
        await sleep(Math.max(0, start + at - Date.now()));
        const text = `Shared account record ${index}`;
        writer.prepare(`INSERT INTO notes_${1 + Math.floor(Math.random() * options.integrations)} (tweet_text, keep_going) VALUES (?, 'Yes')`).run(text);
        inserted.set(text, Date.now());
      }
      writer.close();
      const mine = async () => (await emulator.tweetsBy('bench_shared')).filter((tweet) => inserted.has(tweet.text));
      // Before tweet-on-commit some records wait minutes: what is still untweeted after the wait is counted.
      await waitFor(async () => (await mine()).length === inserted.size, 'every record tweeted', options.waitMs ?? 120_000, 100).catch(() => undefined);
      const tweets = await mine();
      const latencies = tweets.map((tweet) => Date.parse(tweet.created_at) - (inserted.get(tweet.text) as number));
      const runs = daemon.ticks().map((tick) => Number(tick.durationMs));
      return {
        run_ms: { median: round(median(runs), 0), max: Math.max(...runs), runs: runs.length },
        integrations: options.integrations,
        records: options.records,
        not_tweeted: inserted.size - tweets.length,
        insert_to_tweet_ms: { median: round(median(latencies), 0), p95: round(quantile(latencies, 0.95), 0), max: Math.max(...latencies) },
      };
    } finally {
      await daemon.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  (async () => {
    const rootIndex = process.argv.indexOf('--root');
    const root = rootIndex > 0 ? path.resolve(process.argv[rootIndex + 1]) : undefined;
    const emulator = await EmulatorProcess.start();
    try {
      const waitIndex = process.argv.indexOf('--wait-ms');
      const waitMs = waitIndex > 0 ? Number(process.argv[waitIndex + 1]) : undefined;
      const figures = await sharedAccount(emulator, { integrations: 60, records: 30, windowMs: 30_000, root, waitMs });
      process.stdout.write(`${JSON.stringify({ root: root ?? ROOT, ...figures })}\n`);
    } finally {
      await emulator.stop();
    }
    process.exit(0);
  })().catch((error) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
