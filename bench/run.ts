// `npm run bench [-- --quick] [-- --json]`: figures measured side by side in one run against the
// X API emulator in its own process, written to docs/performance.md.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { buildServices, type Services } from '../src/app';
import { loadConfig } from '../src/config';
import { silentLogger } from '../src/lib/logger';
import { addAccount } from '../src/setup/account-setup';
import { addIntegration } from '../src/setup/integration-setup';
import { runPollCycle } from '../src/sync/poll-cycle';
import { createTwitterApi } from '../src/twitter/x-client-factory';

const ROOT = path.resolve(__dirname, '..');
const quick = process.argv.includes('--quick');
const asJson = process.argv.includes('--json');
const RUNS = quick ? 3 : 5;

interface Scenario {
  name: string;
  values: Record<string, number | number[]>;
  target: string;
  met: boolean;
}

async function startEmulatorProcess(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/emulator/main.ts'), '--port', '0'], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (chunk) => resolve(JSON.parse(String(chunk)).url));
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
  });
  return { url, child };
}

async function control(url: string, method: string, route: string, body?: unknown): Promise<any> {
  const response = await fetch(`${url}/_emulator${route}`, {
    method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined,
  });
  return response.json();
}

/** A fresh product (its own SQLite file) with one account on the emulator and one integration. */
async function freshProduct(url: string, username: string): Promise<{ services: Services; dir: string; user: any }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kbts-bench-'));
  const config = loadConfig({ DATABASE_URL: path.join(dir, 'kb.sqlite3'), KBTS_DATA_DIR: dir, SECRET_KEY: 'benchmark key, not for production', LOG_LEVEL: 'silent' });
  const services = await buildServices(config, { logger: silentLogger });
  await services.db.raw('CREATE TABLE articles (id INTEGER PRIMARY KEY, tweet_text TEXT, replies TEXT, keep_going TEXT)');
  const user = await control(url, 'POST', '/users', { username });
  const c = user.credentials;
  const account = await addAccount(services.accountSetup, {
    description: 'bench', environment: 'custom', apiBaseUrl: url,
    credentials: { apiKey: c.api_key, apiKeySecret: c.api_key_secret, accessToken: c.access_token, accessTokenSecret: c.access_token_secret },
  });
  await addIntegration(services.integrationSetup, {
    accountId: account.id, table: 'articles', tweetField: 'tweet_text', responseField: 'replies',
    responseMode: 'append', continueField: 'keep_going',
  });
  return { services, dir, user };
}

function insertArticles(file: string, texts: string[]): void {
  const db = new Database(file);
  const insert = db.prepare('INSERT INTO articles (tweet_text, keep_going) VALUES (?, ?)');
  db.transaction(() => { for (const text of texts) insert.run(text, 'Yes'); })();
  db.close();
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const round = (value: number, digits = 3) => Number(value.toFixed(digits));

async function publishOverhead(url: string, records: number): Promise<Scenario> {
  const ratios: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const { services, dir, user } = await freshProduct(url, `bench_p${run}`);
    const texts = Array.from({ length: records }, (_, i) => `Benchmark article ${run}-${i}`);
    insertArticles(path.join(dir, 'kb.sqlite3'), texts);
    const productStart = performance.now();
    const counts = await runPollCycle(services.sync);
    const productMs = performance.now() - productStart;
    if (counts.published !== records) throw new Error(`published ${counts.published} of ${records}`);
    const c = user.credentials;
    const bare = createTwitterApi({ apiKey: c.api_key, apiKeySecret: c.api_key_secret, accessToken: c.access_token, accessTokenSecret: c.access_token_secret }, url);
    const bareStart = performance.now();
    for (const text of texts) await bare.v2.tweet(`${text} (bare)`);
    const bareMs = performance.now() - bareStart;
    ratios.push(productMs / bareMs);
    await services.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const ratio = median(ratios);
  return {
    name: `publish overhead (${records} records, product / bare twitter-api-v2 loop)`,
    values: { median_ratio: round(ratio), runs: ratios.map((value) => round(value)) },
    target: 'product / bare ≤ 1.3',
    met: ratio <= 1.3,
  };
}

async function callsPerTick(url: string, sizes: number[]): Promise<Scenario> {
  const calls: number[] = [];
  for (const [index, size] of sizes.entries()) {
    const { services, dir } = await freshProduct(url, `bench_c${index}`);
    insertArticles(path.join(dir, 'kb.sqlite3'), Array.from({ length: size }, (_, i) => `Open conversation ${index}-${i}`));
    await runPollCycle(services.sync);
    const sent = await services.db('kbts_publications').whereNotNull('tweet_id').limit(50).pluck('tweet_id');
    for (let i = 0; i < 50; i++) {
      await control(url, 'POST', '/tweets', { as: `reader${i}`, text: `reply ${i}`, in_reply_to_tweet_id: sent[i % sent.length] });
    }
    const counts = await runPollCycle(services.sync);
    calls.push(counts.apiCalls);
    await services.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return {
    name: `API calls per tick with ${sizes.join(' / ')} open conversations and 50 new replies`,
    values: { calls_per_tick: calls, per_conversation_poller_would_need: sizes },
    target: 'the same number of calls at every size',
    met: calls.every((count) => count === calls[0]),
  };
}

async function main(): Promise<void> {
  const { url, child } = await startEmulatorProcess();
  try {
    for (const endpoint of ['POST /2/tweets', 'GET /2/users/:id/mentions', 'GET /2/tweets/search/recent', 'GET /2/users/me']) {
      await control(url, 'POST', '/rate-limits', { endpoint, limit: 1_000_000 });
    }
    const scenarios = [
      await publishOverhead(url, quick ? 200 : 2000),
      await callsPerTick(url, quick ? [10, 100, 500] : [10, 1000, 5000]),
    ];
    const machine = { cores: os.cpus().length, node: process.version, runs: RUNS, mode: quick ? 'quick' : 'full' };
    const report = [
      '# Performance',
      '',
      `Measured by \`npm run bench${quick ? ' -- --quick' : ''}\` on ${machine.cores} cores, Node ${machine.node}, median of ${RUNS} runs where repeated.`,
      'Regenerated by the benchmark; the emulator runs in its own process with no added latency.',
      '',
      '| scenario | measured | target | met |',
      '|---|---|---|---|',
      ...scenarios.map((s) => `| ${s.name} | ${JSON.stringify(s.values)} | ${s.target} | ${s.met ? 'yes' : 'no'} |`),
      '',
    ].join('\n');
    fs.mkdirSync(path.join(ROOT, 'docs'), { recursive: true });
    fs.writeFileSync(path.join(ROOT, 'docs', 'performance.md'), report);
    process.stdout.write(asJson ? JSON.stringify({ machine, scenarios }) + '\n' : report);
  } finally {
    child.kill('SIGTERM');
  }
}

main().catch((error) => {
  process.stderr.write(`benchmark failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
