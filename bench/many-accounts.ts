import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { buildServices, type Services } from '../src/app';
import { loadConfig } from '../src/config';
import { silentLogger } from '../src/lib/logger';
import { addAccount } from '../src/setup/account-setup';
import { addIntegration } from '../src/setup/integration-setup';
import { Daemon, median, postgresScratch, ProductWorld, quantile, round, sleep, spread, waitFor, type EmulatorProcess } from './harness';
import type { ScenarioResult } from './report';

// Scenarios 8 and 9 (issue 17, items 2 and 3): many accounts, each with its own KB table and one
// integration. 8: 1,000 integrations polling every minute on one daemon (SQLite). 9: 300 accounts
// on PostgreSQL, 30,000 records, one worker against three.

interface Fleet {
  dir: string;
  /** The product's environment, for the daemons (which log at info, as the harness reads their lines). */
  env: Record<string, string>;
  accounts: Array<{ id: number; username: string; table: string }>;
  drop(): Promise<void>;
}

/** `count` accounts on the emulator and in the product, each with table kb_<n> and one integration on it. */
async function setUpFleet(emulator: EmulatorProcess, services: Services, count: number, prefix: string, schedule: string): Promise<Fleet['accounts']> {
  const accounts: Fleet['accounts'] = [];
  for (let n = 0; n < count; n++) {
    const user = await emulator.createUser(`${prefix}${n}`);
    const table = `kb_${n}`;
    await services.db.schema.createTable(table, (t) => {
      t.increments('id').primary();
      t.text('tweet_text');
      t.text('replies');
      t.text('keep_going');
    });
    const c = user.credentials;
    const account = await addAccount(services.accountSetup, {
      description: `fleet ${n}`, environment: 'custom', apiBaseUrl: emulator.url,
      credentials: { apiKey: c.api_key, apiKeySecret: c.api_key_secret, accessToken: c.access_token, accessTokenSecret: c.access_token_secret },
    });
    await addIntegration(services.integrationSetup, {
      accountId: account.id, table, tweetField: 'tweet_text', responseField: 'replies', responseMode: 'append', continueField: 'keep_going', schedule,
    });
    accounts.push({ id: account.id, username: user.username, table });
  }
  return accounts;
}

async function sqliteFleet(emulator: EmulatorProcess, count: number, prefix: string, schedule: string): Promise<Fleet> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kbts-bench-fleet-'));
  const env = ProductWorld.envFor(dir);
  const services = await buildServices(loadConfig(env), { logger: silentLogger });
  try {
    const accounts = await setUpFleet(emulator, services, count, prefix, schedule);
    return { dir, env: { ...env, LOG_LEVEL: 'info' }, accounts, drop: async () => fs.rmSync(dir, { recursive: true, force: true }) };
  } finally {
    await services.close();
  }
}

async function postgresFleet(emulator: EmulatorProcess, serverUrl: string, count: number, prefix: string, schedule: string): Promise<Fleet> {
  const { dir, env, drop } = await postgresScratch(serverUrl, 'kbts_bench_fleet');
  try {
    const services = await buildServices(loadConfig(env), { logger: silentLogger });
    try {
      return { dir, env: { ...env, LOG_LEVEL: 'info' }, accounts: await setUpFleet(emulator, services, count, prefix, schedule), drop };
    } finally {
      await services.close();
    }
  } catch (error) {
    await drop();
    throw error;
  }
}

/** CPU time (user + system) of a process so far, in ms, from /proc. */
function cpuMs(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

async function untilStarted(daemon: Daemon): Promise<void> {
  try {
    await waitFor(async () => daemon.logLines.some((line) => line.message === 'scheduler started') || (daemon.ticks(), false), 'the daemon to start', 120_000);
  } catch (error) {
    throw new Error(`${(error as Error).message}; its last log lines: ${JSON.stringify(daemon.logLines.slice(-3))}`);
  }
}

const pollsFinished = (daemon: Daemon) => daemon.logLines.filter((line) => line.message === 'poll finished');

/** 8. 1,000 integrations (one account each) polling every minute on one daemon: tick start lag, CPU, peak RSS. */
export async function manyIntegrations(emulator: EmulatorProcess, integrations: number, minutes: number): Promise<ScenarioResult> {
  await emulator.reset();
  const fleet = await sqliteFleet(emulator, integrations, 'fleet', '* * * * *');
  const daemon = Daemon.start({ dir: fleet.dir }, fleet.env);
  try {
    await untilStarted(daemon);
    // One record each, so every account has a conversation to read replies of at each tick.
    const writer = knexFactory({ client: 'better-sqlite3', connection: { filename: fleet.env.DATABASE_URL }, useNullAsDefault: true });
    try {
      for (const account of fleet.accounts) await writer(account.table).insert({ tweet_text: `Fleet record of ${account.username}`, keep_going: 'Yes' });
    } finally {
      await writer.destroy();
    }
    await waitFor(async () => (await emulator.control('GET', '/calls')).by_endpoint['POST /2/tweets'] >= integrations, 'every record tweeted', 300_000, 500);
    // The window starts at a minute's turn, when the cron tasks fire.
    await sleep(60_000 - (Date.now() % 60_000) - 500);
    const windowStart = Date.now();
    const windowEnd = windowStart + minutes * 60_000;
    const cpuStart = cpuMs(daemon.child.pid as number);
    await sleep(windowEnd - Date.now());
    const cpuEnd = cpuMs(daemon.child.pid as number);
    const windowMs = Date.now() - windowStart;
    // Ticks that began in the window may still be running: their lines come within 30 s.
    await sleep(30_000);
    const ticks = pollsFinished(daemon).filter((tick) => tick.collect).map((tick) => ({ ...tick, startedAt: Date.parse(tick.time) - tick.durationMs }))
      .filter((tick) => tick.startedAt >= windowStart && tick.startedAt < windowEnd);
    const lags = ticks.map((tick) => tick.startedAt - Math.floor(tick.startedAt / 60_000) * 60_000);
    const { peakMb } = daemon.memory();
    const expected = integrations * minutes;
    if (ticks.length < expected * 0.9) throw new Error(`only ${ticks.length} of ${expected} ticks ran in ${minutes} minutes`);
    const cpuPercent = ((cpuEnd - cpuStart) / windowMs) * 100;
    const lag = { median: round(median(lags) / 1000, 2), p95: round(quantile(lags, 0.95) / 1000, 2), max: round(Math.max(...lags) / 1000, 2) };
    const met = lag.p95 <= 5 && cpuPercent <= 50 && peakMb <= 250;
    return {
      id: 8,
      title: `Many integrations on one worker: ${integrations.toLocaleString('en')} integrations polling every minute`,
      values: { integrations, minutes, ticks: ticks.length, tick_start_lag_s: lag, cpu_percent_of_one_core: round(cpuPercent, 1), peak_rss_mb: round(peakMb, 0) },
      target: 'tick start lag p95 ≤ 5 s, CPU ≤ 50 % of one core, peak RSS ≤ 250 MB',
      met,
      figure: `lag p95 ${lag.p95} s (median ${lag.median} s), CPU ${cpuPercent.toFixed(1)} %, peak RSS ${peakMb.toFixed(0)} MB`,
      method: `${integrations} accounts on the emulator, each with its own KB table (one record, tweeted before the window) and one integration `
        + `polling every minute, all in one \`kb-twitter-sync poll\` daemon on SQLite (with the launcher's Node flags, as shipped). Over ${minutes} minutes from a minute's turn: each reply `
        + 'poll\'s start (its "poll finished" log line\'s time less its duration) after the minute it belongs to; the daemon\'s CPU time '
        + '(user + system, /proc) over the window\'s wall time; its peak resident set (VmHWM) over the whole run.',
    };
  } finally {
    await daemon.stop();
    await fleet.drop();
  }
}

interface ScaleRun {
  seconds: number; recordsPerSecond: number; overlaps: number; duplicates: number; missing: number;
  /** The workers' CPU time over the run, in cores (1 = one core busy the whole time). */
  workerCores: number;
  /** The whole machine's busy share over the run (every process: workers, emulator, PostgreSQL). */
  machineBusyPercent: number;
}

/** The machine's busy and total CPU ticks so far, from /proc/stat. */
function machineTicks(): { busy: number; total: number } {
  const [, ...values] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const ticks = values.map(Number);
  const total = ticks.reduce((sum, value) => sum + value, 0);
  // Idle and I/O wait are fields 4 and 5 of the cpu line.
  return { busy: total - ticks[3] - ticks[4], total };
}

/** Moments two workers worked one account at once: overlapping runs ("poll finished" time less duration) of different workers. */
function overlappingRuns(workers: Daemon[]): number {
  const runs = new Map<number, Array<{ worker: number; from: number; to: number }>>();
  workers.forEach((worker, index) => {
    for (const line of pollsFinished(worker)) {
      const to = Date.parse(line.time);
      const list = runs.get(line.accountId) ?? [];
      list.push({ worker: index, from: to - line.durationMs, to });
      runs.set(line.accountId, list);
    }
  });
  let overlaps = 0;
  for (const list of runs.values()) {
    list.sort((a, b) => a.from - b.from);
    for (let i = 1; i < list.length; i++) {
      // Log times are to the millisecond: a run that starts in the millisecond the other ended is a hand-over.
      for (let j = i - 1; j >= 0 && list[j].to > list[i].from; j--) if (list[j].worker !== list[i].worker) overlaps++;
    }
  }
  return overlaps;
}

async function scaleRun(
  emulator: EmulatorProcess, serverUrl: string, accounts: number, records: number, workers: number, accountsAtOnce: number | null,
): Promise<ScaleRun> {
  await emulator.reset();
  const fleet = await postgresFleet(emulator, serverUrl, accounts, `scale${workers}_`, '0 * * * *');
  const daemons: Daemon[] = [];
  const writer: Knex = knexFactory({ client: 'pg', connection: fleet.env.DATABASE_URL });
  const workerEnv = accountsAtOnce === null ? fleet.env : { ...fleet.env, KBTS_ACCOUNTS_AT_ONCE: String(accountsAtOnce) };
  try {
    for (let i = 0; i < workers; i++) daemons.push(Daemon.start({ dir: fleet.dir }, workerEnv));
    for (const daemon of daemons) await untilStarted(daemon);
    // X is not instant: every call takes 50 ms more from here on.
    await emulator.control('POST', '/faults', { rules: [{ endpoint: '*', kind: 'latency', ms: 50, probability: 1 }] });
    const perAccount = records / accounts;
    const started = Date.now();
    const machineStart = machineTicks();
    const workersStart = daemons.reduce((sum, daemon) => sum + cpuMs(daemon.child.pid as number), 0);
    for (const account of fleet.accounts) {
      await writer(account.table).insert(Array.from({ length: perAccount }, (_, i) => ({ tweet_text: `Scale-out record ${i} of ${account.username}`, keep_going: 'Yes' })));
    }
    await waitFor(async () => {
      const [{ n }] = await writer('kbts_publications').where({ state: 'sent' }).count({ n: '*' });
      return Number(n) >= records;
    }, `${records} records tweeted`, 1_800_000, 250);
    const seconds = (Date.now() - started) / 1000;
    const machineEnd = machineTicks();
    const workerCores = (daemons.reduce((sum, daemon) => sum + cpuMs(daemon.child.pid as number), 0) - workersStart) / 1000 / seconds;
    const machineBusyPercent = (100 * (machineEnd.busy - machineStart.busy)) / Math.max(1, machineEnd.total - machineStart.total);
    await emulator.control('DELETE', '/faults');
    let duplicates = 0;
    let missing = 0;
    for (const account of fleet.accounts) {
      const texts = (await emulator.tweetsBy(account.username)).map((tweet) => tweet.text);
      const distinct = new Set(texts).size;
      duplicates += texts.length - distinct;
      missing += perAccount - distinct;
    }
    return { seconds, recordsPerSecond: records / seconds, overlaps: overlappingRuns(daemons), duplicates, missing, workerCores, machineBusyPercent };
  } finally {
    await writer.destroy();
    for (const daemon of daemons) await daemon.stop();
    await fleet.drop();
  }
}

/**
 * 9. PostgreSQL: 300 accounts, 30,000 records, X answering 50 ms slower: three workers' throughput against one's.
 * `accountsAtOnce`: each worker's KBTS_ACCOUNTS_AT_ONCE (null: the default, 50). With the default,
 * one worker already keeps a small machine busy, so the run measures the machine; a lower bound
 * leaves room for three workers, so it measures how the workers share the accounts.
 */
export async function scaleOut(emulator: EmulatorProcess, accounts: number, records: number, runs: number, accountsAtOnce: number | null = null): Promise<ScenarioResult> {
  const serverUrl = process.env.KBTS_BENCH_POSTGRES_URL ?? process.env.KBTS_TEST_POSTGRES_URL;
  if (!serverUrl) throw new Error('not measured: set KBTS_BENCH_POSTGRES_URL (or KBTS_TEST_POSTGRES_URL)');
  const pairs: Array<{ one: ScaleRun; three: ScaleRun }> = [];
  for (let run = 0; run < runs; run++) {
    // Alternating order, so neither side always runs on the warmer machine.
    const first = await scaleRun(emulator, serverUrl, accounts, records, run % 2 === 0 ? 1 : 3, accountsAtOnce);
    const second = await scaleRun(emulator, serverUrl, accounts, records, run % 2 === 0 ? 3 : 1, accountsAtOnce);
    pairs.push(run % 2 === 0 ? { one: first, three: second } : { one: second, three: first });
  }
  const ratios = pairs.map((pair) => pair.three.recordsPerSecond / pair.one.recordsPerSecond);
  const ratio = spread(ratios);
  const all = pairs.flatMap((pair) => [pair.one, pair.three]);
  const overlaps = all.reduce((sum, run) => sum + run.overlaps, 0);
  const duplicates = all.reduce((sum, run) => sum + run.duplicates, 0);
  const missing = all.reduce((sum, run) => sum + run.missing, 0);
  return {
    id: 9,
    title: `Scale out on PostgreSQL: ${accounts} accounts, ${records.toLocaleString('en')} records, X 50 ms slower`
      + `${accountsAtOnce === null ? '' : `, each worker at most ${accountsAtOnce} accounts at once`}; three workers / one`,
    values: {
      accounts, records, accounts_at_once_per_worker: accountsAtOnce ?? 'default (50)', ratio, ratio_runs: ratios.map((value) => round(value)),
      one_worker_records_per_second_median: round(median(pairs.map((pair) => pair.one.recordsPerSecond)), 0),
      three_workers_records_per_second_median: round(median(pairs.map((pair) => pair.three.recordsPerSecond)), 0),
      // Whether the machine, not the product, was the limit: its cores' busy share and the workers' own share.
      one_worker_cores_median: round(median(pairs.map((pair) => pair.one.workerCores)), 2),
      three_workers_cores_median: round(median(pairs.map((pair) => pair.three.workerCores)), 2),
      machine_busy_percent_one_worker_median: round(median(pairs.map((pair) => pair.one.machineBusyPercent)), 0),
      machine_busy_percent_three_workers_median: round(median(pairs.map((pair) => pair.three.machineBusyPercent)), 0),
      cores: os.cpus().length,
      moments_two_workers_held_one_account: overlaps, duplicate_tweets: duplicates, records_not_tweeted: missing,
    },
    target: 'three workers ≥ 2.5 × one; no account worked by two workers at once; every record tweeted once',
    met: ratio.median >= 2.5 && overlaps === 0 && duplicates === 0 && missing === 0,
    figure: `${ratio.median.toFixed(2)} × (${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)}); ${overlaps} overlaps, ${duplicates} duplicates, ${missing} missing`,
    method: `${accounts} emulator accounts, each with its own KB table and one integration (reply polling hourly), on one PostgreSQL database; `
      + `the workers (\`kb-twitter-sync poll\`, own processes) started, then every emulator call made 50 ms slower and ${records / accounts} rows `
      + 'inserted into each table. Timed from the first insert until every record\'s publication is sent. Overlaps: two workers\' runs on one '
      + 'account ("poll finished" time less its duration) that share a moment. Duplicates and misses: each account\'s tweets at the emulator.'
      + (accountsAtOnce === null ? '' : ` Every worker runs with KBTS_ACCOUNTS_AT_ONCE=${accountsAtOnce}, so one worker alone leaves most of the `
        + 'machine idle: what is measured is how three workers share the accounts, not how many cores the machine has.'),
  };
}
