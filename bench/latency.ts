import Database from 'better-sqlite3';
import { buildServices } from '../src/app';
import { loadConfig } from '../src/config';
import { silentLogger } from '../src/lib/logger';
import { updateIntegration } from '../src/setup/integration-setup';
import { Daemon, jitter, median, ProductWorld, quantile, round, sleep, waitFor, type EmulatorProcess } from './harness';
import type { ScenarioResult } from './report';

const EVERY_SECOND = '* * * * * *';
const EVERY_MINUTE = '* * * * *';

interface Latencies {
  insert_to_tweet_ms: { median: number; p95: number; samples: number };
  reply_to_record_ms: { median: number; p95: number; samples: number };
  /** How late the benchmark made its most delayed insert or reply (a busy machine delays them). */
  event_delay_ms_max?: number;
}

function summarize(insertToTweet: number[], replyToRecord: number[], lateMs?: number): Latencies {
  const figures = (values: number[]) => ({ median: round(median(values), 0), p95: round(quantile(values, 0.95), 0), samples: values.length });
  const latencies: Latencies = { insert_to_tweet_ms: figures(insertToTweet), reply_to_record_ms: figures(replyToRecord) };
  if (lateMs !== undefined) latencies.event_delay_ms_max = lateMs;
  return latencies;
}

/** When each reply was written into its record: its log row is written in the same transaction. */
function replyRecordedAt(world: ProductWorld): Map<string, number> {
  const db = new Database(world.file, { readonly: true });
  try {
    const rows = db.prepare("SELECT tweet_id, recorded_at FROM kbts_communications WHERE direction = 'in'").all() as Array<{ tweet_id: string; recorded_at: string }>;
    return new Map(rows.map((row) => [row.tweet_id, Date.parse(row.recorded_at)]));
  } finally {
    db.close();
  }
}

type Event = { at: number; kind: 'insert' | 'reply'; index: number };

/**
 * Inserts records and posts replies (to `replyTo` tweets) at the given moments, then waits for the
 * daemon to tweet every record and write every reply; returns the latencies of each.
 */
async function measure(emulator: EmulatorProcess, world: ProductWorld, label: string, events: Event[], replyTo: string[], timeoutMs: number): Promise<{ insertToTweet: number[]; replyToRecord: number[]; lateMs: number }> {
  const inserted = new Map<string, number>();
  const replied = new Map<string, number>();
  const start = Date.now();
  let lateMs = 0;
  for (const event of [...events].sort((a, b) => a.at - b.at)) {
    await sleep(Math.max(0, start + event.at - Date.now()));
    lateMs = Math.max(lateMs, Date.now() - (start + event.at));
    if (event.kind === 'insert') {
      const text = `Latency check ${label}-${event.index}`;
      world.insertArticles([text]);
      inserted.set(text, Date.now());
    } else {
      const [reply] = await emulator.postReplies([{ as: `reader${event.index}`, text: `Quick reply ${label}-${event.index}`, to: replyTo[event.index % replyTo.length] }], 1);
      replied.set(reply.id, Date.parse(reply.created_at));
    }
  }
  const tweets = await waitFor(async () => {
    const mine = (await emulator.tweetsBy(world.user.username)).filter((tweet) => inserted.has(tweet.text));
    return mine.length === inserted.size ? mine : undefined;
  }, 'every record tweeted', timeoutMs, 100);
  const recorded = await waitFor(async () => {
    const rows = replyRecordedAt(world);
    return [...replied.keys()].every((id) => rows.has(id)) ? rows : undefined;
  }, 'every reply written', timeoutMs, 100);
  return {
    insertToTweet: tweets.map((tweet) => Date.parse(tweet.created_at) - (inserted.get(tweet.text) as number)),
    replyToRecord: [...replied].map(([id, createdAt]) => (recorded.get(id) as number) - createdAt),
    lateMs,
  };
}

/**
 * Inserts and replies at random moments, one of each in every equal slice of the window, so the
 * moments cover the schedule's cycle evenly (the wait for the next tick is what is measured).
 */
function randomEvents(samples: number, windowMs: number): Event[] {
  const slice = windowMs / samples;
  const events: Event[] = [];
  for (let index = 0; index < samples; index++) {
    events.push({ at: Math.floor(index * slice) + jitter(0, slice), kind: 'insert', index });
    events.push({ at: Math.floor(index * slice) + jitter(0, slice), kind: 'reply', index });
  }
  return events;
}

/** 6. Insert → tweet and reply → record, polling every second (the shortest) and every minute. */
export async function latency(emulator: EmulatorProcess, samples: number, minuteWindowMs: number | null): Promise<ScenarioResult> {
  await emulator.reset();
  const world = await ProductWorld.create(emulator, 'bench_latency', { schedule: EVERY_SECOND });
  try {
    return await measureBoth(emulator, world, samples, minuteWindowMs);
  } finally {
    world.removeFiles();
  }
}

async function measureBoth(emulator: EmulatorProcess, world: ProductWorld, samples: number, minuteWindowMs: number | null): Promise<ScenarioResult> {
  try {
    world.insertArticles(Array.from({ length: samples }, (_, i) => `Conversation starter ${i}`));
    await world.publishAll(samples);
  } finally {
    await world.handOver();
  }
  const openTweets = (await emulator.tweetsBy(world.user.username)).map((tweet) => tweet.id);

  let daemon = Daemon.start(world);
  let everySecond: Latencies;
  let tickMs: number[];
  try {
    await waitFor(async () => daemon.ticks().length > 0, "the daemon's first tick", 60_000);
    const measured = await measure(emulator, world, 's', randomEvents(samples, samples * 600), openTweets, 60_000);
    everySecond = summarize(measured.insertToTweet, measured.replyToRecord, measured.lateMs);
    tickMs = daemon.ticks().filter((tick) => tick.published > 0 || tick.repliesApplied > 0).map((tick) => tick.durationMs);
  } finally {
    await daemon.stop();
  }

  let everyMinute: Latencies & { how: string };
  if (minuteWindowMs !== null) {
    const services = await buildServices(loadConfig(ProductWorld.envFor(world.dir)), { logger: silentLogger });
    await updateIntegration(services.integrationSetup, world.integrationId, {
      tweetField: 'tweet_text', responseField: 'replies', responseMode: 'append', continueField: 'keep_going', schedule: EVERY_MINUTE,
    });
    await services.close();
    daemon = Daemon.start(world);
    try {
      const minuteSamples = Math.max(10, Math.round(minuteWindowMs / 8000));
      const measured = await measure(emulator, world, 'm', randomEvents(minuteSamples, minuteWindowMs), openTweets, minuteWindowMs + 120_000);
      everyMinute = { ...summarize(measured.insertToTweet, measured.replyToRecord, measured.lateMs), how: `measured over ${Math.round(minuteWindowMs / 1000)} s` };
    } finally {
      await daemon.stop();
    }
  } else {
    // The wait for the next tick is uniform over the minute; the tick's own cost comes on top.
    const computed = (q: number) => round(q * 60_000 + quantile(tickMs, q), 0);
    const figures = { median: computed(0.5), p95: computed(0.95), samples: 0 };
    everyMinute = { insert_to_tweet_ms: figures, reply_to_record_ms: figures, how: 'computed: a uniform wait for the next minute plus the measured tick cost' };
  }

  const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const pair = (l: Latencies) => `${seconds(l.insert_to_tweet_ms.median)} / ${seconds(l.insert_to_tweet_ms.p95)} and ${seconds(l.reply_to_record_ms.median)} / ${seconds(l.reply_to_record_ms.p95)}`;
  return {
    id: 6,
    title: 'Latency, insert → tweet and reply → record (median / 95th percentile)',
    values: {
      every_second: everySecond,
      every_minute: everyMinute,
      tick_ms_when_busy: { median: round(median(tickMs), 0), p95: round(quantile(tickMs, 0.95), 0), samples: tickMs.length },
    },
    target: null,
    met: null,
    figure: `every second: ${pair(everySecond)}; every minute (${everyMinute.how.split(':')[0]}): ${pair(everyMinute)}`,
    method: 'The daemon (`kb-twitter-sync poll`, its own process) polls on the schedule; records are inserted and replies posted '
      + 'at random moments. Insert → tweet runs from the insert\'s commit to the tweet\'s created_at at the emulator; reply → record '
      + 'from the reply\'s created_at to the moment the product wrote it into the record (its log row, same transaction). Every '
      + 'second is the shortest schedule the scheduler allows (6-field cron).',
  };
}
