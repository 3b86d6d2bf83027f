import { Daemon, ProductWorld, round, spread, waitFor, type EmulatorProcess } from './harness';
import type { ScenarioResult } from './report';

const NEW_RECORDS = 1000;
const TIME_TARGET = 1.2;
const MEMORY_TARGET_MB = 200;

interface DaemonRun {
  rows: number;
  tickMs: number[];
  peakMb: number;
  helpersMb: number;
}

/** The daemon, polling every second, working `ticks` batches of new records in a table of `rows` rows. */
async function daemonOnTable(emulator: EmulatorProcess, rows: number, ticks: number): Promise<DaemonRun> {
  await emulator.reset();
  const world = await ProductWorld.create(emulator, `table_${rows}`, { existingRows: rows, schedule: '* * * * * *' });
  await world.handOver();
  const daemon = Daemon.start(world);
  try {
    await waitFor(async () => daemon.ticks().length > 0, "the daemon's first tick", 60_000);
    const tickMs: number[] = [];
    for (let batch = 0; batch < ticks; batch++) {
      const seen = daemon.ticks().length;
      world.insertArticles(Array.from({ length: NEW_RECORDS }, (_, i) => `Fresh article ${rows}-${batch}-${i}`));
      const tick = await daemon.nextBusyTick(seen, 120_000);
      // One insert commits all rows at once, so one tick sees them all.
      if (tick.published !== NEW_RECORDS || tick.errors?.length) throw new Error(`a tick published ${tick.published} of ${NEW_RECORDS}: ${tick.errors}`);
      tickMs.push(tick.durationMs);
    }
    const memory = daemon.memory();
    return { rows, tickMs, peakMb: memory.peakMb, helpersMb: memory.helpersMb };
  } finally {
    await daemon.stop();
    world.removeFiles();
  }
}

/** 4 and 5. A tick's time with 1,000 new records in a small and a big table, and the daemon's peak memory on the big one. */
export async function tableSize(emulator: EmulatorProcess, small: number, big: number, ticks: number): Promise<ScenarioResult[]> {
  const smallRun = await daemonOnTable(emulator, small, ticks);
  const bigRun = await daemonOnTable(emulator, big, ticks);
  const smallMs = spread(smallRun.tickMs, 0);
  const bigMs = spread(bigRun.tickMs, 0);
  const ratio = bigMs.median / smallMs.median;
  const daemonNote = `The daemon is \`kb-twitter-sync poll\` in its own process (${Daemon.runs}), polling every second; `;
  return [
    {
      id: 4,
      title: `Flat in table size: a tick with ${NEW_RECORDS.toLocaleString('en')} new records, table of ${big.toLocaleString('en')} / ${small.toLocaleString('en')} rows`,
      values: {
        ratio: round(ratio),
        small_table: { rows: small, tick_ms: smallMs, tick_ms_runs: smallRun.tickMs },
        big_table: { rows: big, tick_ms: bigMs, tick_ms_runs: bigRun.tickMs },
      },
      target: `big / small ≤ ${TIME_TARGET}`,
      met: ratio <= TIME_TARGET,
      figure: `${ratio.toFixed(2)} (median tick ${bigMs.median} ms / ${smallMs.median} ms)`,
      method: `${daemonNote}for each table size, ${ticks} times, ${NEW_RECORDS} rows are inserted in one transaction by another `
        + 'connection and the tick that tweets them is timed (its own duration, from the daemon\'s log). The rows that were there '
        + 'before the integration are never read.',
    },
    {
      id: 5,
      title: `Memory: peak RSS of the daemon during scenario 4 on ${big.toLocaleString('en')} rows`,
      values: {
        peak_rss_mb: round(bigRun.peakMb, 1),
        peak_rss_mb_small_table: round(smallRun.peakMb, 1),
        helper_processes_rss_mb: round(bigRun.helpersMb, 1),
      },
      target: `≤ ${MEMORY_TARGET_MB} MB`,
      met: bigRun.peakMb <= MEMORY_TARGET_MB,
      figure: `${bigRun.peakMb.toFixed(0)} MB (${smallRun.peakMb.toFixed(0)} MB on ${small.toLocaleString('en')} rows)`,
      method: `${daemonNote}its peak resident set (VmHWM of its process) is read after scenario 4's ticks on the big table. `
        + 'Helper processes it started (tsx\'s esbuild service, when it runs from source) are reported apart.',
    },
  ];
}
