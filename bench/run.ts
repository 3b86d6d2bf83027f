// `npm run bench [-- --quick] [-- --json]`: the figures of issue #5, each measured side by side in
// one run against the X API emulator in its own process, written to docs/performance.md.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { callsPerTick } from './calls-per-tick';
import { EmulatorProcess, ROOT } from './harness';
import { latency } from './latency';
import { manyIntegrations, scaleOut } from './many-accounts';
import { mediaVideo } from './media-video';
import { publishOverhead } from './publish-overhead';
import { repliesByWebhook } from './replies-by-webhook';
import { replyIngestion } from './reply-ingestion';
import { describeMachine, renderJson, renderMarkdown, type ScenarioResult } from './report';
import { tableSize } from './table-size';
import { tweetOnCommit } from './tweet-on-commit';
import { webhookIngestion } from './webhook-ingestion';

const quick = process.argv.includes('--quick');
const asJson = process.argv.includes('--json');
// `--only=NAME` (e.g. `--only="replies by webhook"`): just that scenario, and docs/performance.md is left as it is.
const only = process.argv.find((arg) => arg.startsWith('--only='))?.slice('--only='.length) ?? null;
const mode = quick ? 'quick' : 'full';
// Quick mode keeps every size the issue names and takes fewer runs and samples.
const RUNS = quick ? 3 : 5;

const log = (message: string) => {
  if (!asJson) process.stderr.write(`[bench] ${message}\n`);
};

/** A scenario that fails is reported as such, and the others still run. */
async function attempt(id: number, title: string, run: () => Promise<ScenarioResult | ScenarioResult[]>): Promise<ScenarioResult[]> {
  if (only !== null && only !== title) return [];
  const started = performance.now();
  log(`${id}. ${title}…`);
  try {
    const result = await run();
    log(`${id}. done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return Array.isArray(result) ? result : [result];
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log(`${id}. failed: ${message}`);
    return [{ id, title, values: { error: message }, target: null, met: false, figure: `failed: ${message}`, method: 'The scenario did not finish.' }];
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const machine = describeMachine();
  const emulator = await EmulatorProcess.start();
  const scenarios: ScenarioResult[] = [];
  try {
    scenarios.push(...await attempt(1, 'publish overhead', () => publishOverhead(emulator, 2000, RUNS)));
    scenarios.push(...await attempt(2, 'reply ingestion', () => replyIngestion(emulator, 1000, 5000, RUNS)));
    scenarios.push(...await attempt(3, 'calls per tick', () => callsPerTick(emulator, [10, 1000, 10_000])));
    scenarios.push(...await attempt(4, 'table size and memory', () => tableSize(emulator, 1000, 1_000_000, RUNS)));
    // The 1-minute schedule is sampled for real only in the full run, where it fits the time budget.
    scenarios.push(...await attempt(6, 'latency', () => latency(emulator, quick ? 15 : 40, quick ? null : 150_000)));
    scenarios.push(...await attempt(6, 'tweet on commit', () => tweetOnCommit(emulator, quick ? 20 : 60)));
    scenarios.push(...await attempt(6, 'replies by webhook', () => repliesByWebhook(emulator, quick ? 20 : 60)));
    scenarios.push(...await attempt(7, 'webhook ingestion', () => webhookIngestion(emulator, 5000, RUNS)));
    scenarios.push(...await attempt(8, 'many integrations', () => manyIntegrations(emulator, 1000, quick ? 2 : 4)));
    scenarios.push(...await attempt(9, 'scale out', () => scaleOut(emulator, 300, 30_000, quick ? 1 : 3)));
    scenarios.push(...await attempt(9, 'scale out, workers below the machine', () => scaleOut(emulator, 300, 30_000, 1, 8)));
    scenarios.push(...await attempt(16, 'media video', () => mediaVideo(emulator)));
  } finally {
    await emulator.stop();
  }
  machine.load_at_end = Number(os.loadavg()[0].toFixed(2));
  const seconds = (performance.now() - started) / 1000;
  if (only === null) {
    fs.mkdirSync(path.join(ROOT, 'docs'), { recursive: true });
    fs.writeFileSync(path.join(ROOT, 'docs', 'performance.md'), renderMarkdown(machine, mode, RUNS, scenarios, seconds));
  } else if (scenarios.length === 0) {
    throw new Error(`--only=${only} names no scenario`);
  }
  if (asJson) {
    process.stdout.write(renderJson(machine, mode, RUNS, scenarios) + '\n');
  } else {
    process.stdout.write(['', '| # | measured | target | met |', '|---|---|---|---|',
      ...scenarios.map((s) => `| ${s.id} | ${s.figure} | ${s.target ?? '—'} | ${s.met === null ? '—' : s.met ? 'yes' : 'NO'} |`),
      '', `${mode} run, ${seconds.toFixed(0)} s; ${only === null ? 'written to docs/performance.md' : 'docs/performance.md left as it was (--only)'}`, ''].join('\n'));
  }
  // A scenario that failed half-way may have left a connection open; the run is over.
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`benchmark failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
