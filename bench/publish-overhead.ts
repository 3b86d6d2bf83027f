import { performance } from 'node:perf_hooks';
import { bareClient, median, ProductWorld, round, settle, spread, type EmulatorProcess } from './harness';
import type { ScenarioResult } from './report';

const TARGET = 1.3;

async function onePair(emulator: EmulatorProcess, records: number, label: string, productFirst: boolean) {
  await emulator.reset();
  const world = await ProductWorld.create(emulator, `pub_${label}`);
  // The bare loop posts the very same texts as another user, so the emulator does the same work.
  const bare = bareClient(await emulator.createUser(`bare_${label}`), emulator.url);
  const texts = Array.from({ length: records }, (_, i) => `Benchmark article ${label}-${i}: what the KB has to say today`);
  try {
    world.insertArticles(texts);
    return await timePair(world, texts, bare, productFirst);
  } finally {
    await world.close();
  }
}

async function timePair(world: ProductWorld, texts: string[], bare: ReturnType<typeof bareClient>, productFirst: boolean) {
  const records = texts.length;
  let productMs = 0;
  let bareMs = 0;
  let product = { cycles: 0, apiCalls: 0 };
  const runProduct = async () => {
    settle();
    const started = performance.now();
    product = await world.publishAll(records);
    productMs = performance.now() - started;
  };
  const runBare = async () => {
    settle();
    const started = performance.now();
    for (const text of texts) await bare.v2.tweet(text);
    bareMs = performance.now() - started;
  };
  if (productFirst) {
    await runProduct();
    await runBare();
  } else {
    await runBare();
    await runProduct();
  }
  return { productMs, bareMs, ...product };
}

/** 1. The product publishing N new records against a bare twitter-api-v2 loop posting the same N texts. */
export async function publishOverhead(emulator: EmulatorProcess, records: number, runs: number): Promise<ScenarioResult> {
  // One unmeasured round first, so neither side pays the JIT's warm-up in the figures.
  await onePair(emulator, Math.min(records, 500), 'warmup', true);
  const results = [];
  for (let run = 0; run < runs; run++) results.push(await onePair(emulator, records, `r${run}`, run % 2 === 0));
  const ratios = results.map((result) => result.productMs / result.bareMs);
  const ratio = spread(ratios);
  return {
    id: 1,
    title: `Publish overhead: ${records.toLocaleString('en')} new records, product / bare twitter-api-v2 loop`,
    values: {
      records,
      ratio,
      ratio_runs: ratios.map((value) => round(value)),
      product_ms_median: round(median(results.map((result) => result.productMs)), 0),
      bare_ms_median: round(median(results.map((result) => result.bareMs)), 0),
      product_us_per_record_median: round(median(results.map((result) => (result.productMs * 1000) / records)), 0),
      bare_us_per_post_median: round(median(results.map((result) => (result.bareMs * 1000) / records)), 0),
      product_poll_cycles: results[0].cycles,
      product_api_calls: results[0].apiCalls,
    },
    target: `product / bare ≤ ${TARGET}`,
    met: ratio.median <= TARGET,
    figure: `${ratio.median.toFixed(2)} (${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)})`,
    method: `Each run inserts ${records} rows with plain SQL, times the product's poll cycles until all are tweeted `
      + '(in this process, on its own SQLite file), and times a bare twitter-api-v2 loop posting the same texts as '
      + 'another user; the two go in alternating order, each after a garbage collection, after one unmeasured warm-up '
      + 'round, on a freshly reset emulator.',
  };
}
