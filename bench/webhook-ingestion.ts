import crypto from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { webhookApiFor, type XWebhookApi } from '../src/twitter/x-webhooks';
import { bareClient, enableWebhookByCli, median, ProductWorld, round, settle, spread, startServe, waitFor, type EmulatorProcess, type EmulatorUser } from './harness';
import type { ScenarioResult } from './report';

// Scenario 7, webhook ingestion (issue 17, item 4): how fast signed X Activity events become replies in
// records, beside a bare receiver that only checks each signature and parses the JSON. Both
// sides get the same stream: the emulator's replay of N events (it sends them one after another,
// each as soon as the last was answered), so the figure is the receiver's own pace. Each reply is
// two events, as the product subscribes to both kinds X sends for it (a reply to the account's
// post is also a mention of it): N events are N / 2 replies.

const TARGET = 2.0;
const HOURLY = '0 * * * *';
const CONVERSATIONS = 100;

function apiOf(user: EmulatorUser, url: string): XWebhookApi {
  const c = user.credentials;
  return webhookApiFor({ kind: 'oauth1-user', credentials: { apiKey: c.api_key, apiKeySecret: c.api_key_secret, accessToken: c.access_token, accessTokenSecret: c.access_token_secret } }, url);
}

const EVENT_TYPES = ['post.reply.create', 'post.mention.create'];

/**
 * Posts `events / 2` replies spread over `tweetIds` while the emulator loses every delivery (X
 * keeps the events all the same), then times the replay of them all until `received()` reaches
 * `expected` (replies in records for the product, events for the bare receiver).
 */
async function timeReplay(
  emulator: EmulatorProcess, api: XWebhookApi, tweetIds: string[], events: number, expected: number, received: () => Promise<number>,
): Promise<number> {
  const [hook] = await api.listWebhooks();
  const fromMs = Date.now();
  await emulator.control('POST', '/webhooks/faults', { rules: [{ kind: 'lost', count: events }] });
  const replies = events / EVENT_TYPES.length;
  await emulator.postReplies(Array.from({ length: replies }, (_, i) => ({ as: `bench_wi_${i % 50}`, text: `Replayed reply ${i}: here is what I think`, to: tweetIds[i % tweetIds.length] })));
  const early = await received();
  if (early !== 0) throw new Error(`${early} events reached the receiver before the replay`);
  settle();
  const started = performance.now();
  await api.replay(hook.id, fromMs, Date.now());
  await waitFor(async () => (await received()) >= expected, `${expected} received`, 600_000, 20);
  const ms = performance.now() - started;
  const got = await received();
  if (got !== expected) throw new Error(`the receiver counted ${got}, not ${expected}`);
  return ms;
}

/** `serve` on SQLite with real-time replies on, CONVERSATIONS records tweeted; events per second into records. */
async function productRun(emulator: EmulatorProcess, events: number, label: string): Promise<number> {
  await emulator.reset();
  const world = await ProductWorld.create(emulator, `wi_${label}`, { schedule: HOURLY });
  world.insertArticles(Array.from({ length: CONVERSATIONS }, (_, i) => `Webhook ingestion ${label}-${i}: tell us`));
  await world.publishAll(CONVERSATIONS);
  const tweets = await emulator.tweetsBy(world.user.username);
  await world.handOver();
  const { server, env } = await startServe(world.dir, ProductWorld.envFor(world.dir));
  const reader = new Database(world.file, { readonly: true });
  try {
    const [{ id }] = [reader.prepare('SELECT id FROM kbts_accounts').get() as { id: number }];
    await enableWebhookByCli(world.dir, env, id);
    const count = reader.prepare("SELECT COUNT(*) AS n FROM kbts_communications WHERE direction = 'in' AND applied = 1");
    const ms = await timeReplay(emulator, apiOf(world.user, emulator.url), tweets.map((tweet) => tweet.id), events, events / EVENT_TYPES.length, async () => (count.get() as { n: number }).n);
    return (events * 1000) / ms;
  } finally {
    reader.close();
    await server.stop();
    world.removeFiles();
  }
}

/** A receiver with no product behind it: CRC answer, constant-time signature check, JSON.parse, a count. */
async function bareRun(emulator: EmulatorProcess, events: number, label: string): Promise<number> {
  await emulator.reset();
  const user = await emulator.createUser(`wi_bare_${label}`);
  const secret = user.credentials.api_key_secret;
  const sign = (data: string | Buffer) => 'sha256=' + crypto.createHmac('sha256', secret).update(data).digest('base64');
  let counted = 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'GET') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ response_token: sign(url.searchParams.get('crc_token') ?? '') }));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const expected = Buffer.from(sign(raw));
      const given = Buffer.from(String(req.headers['x-twitter-webhooks-signature'] ?? ''));
      if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
        res.statusCode = 401;
        res.end();
        return;
      }
      const event = JSON.parse(raw.toString('utf8')) as { data?: { payload?: { id?: string } } };
      if (event.data?.payload?.id) counted++;
      res.setHeader('content-type', 'application/json');
      res.end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  try {
    const api = apiOf(user, emulator.url);
    const hook = await api.createWebhook(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}/webhooks/x/1`);
    for (const eventType of EVENT_TYPES) await api.subscribe(eventType, user.id, hook.id, 'bare receiver');
    const client = bareClient(user, emulator.url);
    const roots: string[] = [];
    for (let i = 0; i < CONVERSATIONS; i++) roots.push((await client.v2.tweet(`Bare webhook ingestion ${label}-${i}: tell us`)).data.id);
    const ms = await timeReplay(emulator, api, roots, events, events, async () => counted);
    return (events * 1000) / ms;
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** 7. N signed events replayed by the emulator: events per second written into records, product / bare receiver. */
export async function webhookIngestion(emulator: EmulatorProcess, events: number, runs: number): Promise<ScenarioResult> {
  // One smaller unmeasured pair first, for the JIT's warm-up on both sides.
  await productRun(emulator, Math.min(events, 500), 'warmup');
  await bareRun(emulator, Math.min(events, 500), 'warmup');
  const results: Array<{ product: number; bare: number }> = [];
  for (let run = 0; run < runs; run++) {
    // Alternating order, so neither side always meets the emulator's garbage of the other.
    const first = run % 2 === 0 ? await productRun(emulator, events, `r${run}`) : await bareRun(emulator, events, `r${run}`);
    const second = run % 2 === 0 ? await bareRun(emulator, events, `r${run}`) : await productRun(emulator, events, `r${run}`);
    results.push(run % 2 === 0 ? { product: first, bare: second } : { product: second, bare: first });
  }
  // Slower is larger: bare events/s over the product's.
  const ratios = results.map((result) => result.bare / result.product);
  const ratio = spread(ratios);
  return {
    id: 7,
    title: `Webhook ingestion: ${events.toLocaleString('en')} signed events replayed by the emulator, bare receiver / product (events per second)`,
    values: {
      events,
      conversations: CONVERSATIONS,
      ratio,
      ratio_runs: ratios.map((value) => round(value)),
      product_events_per_second_median: round(median(results.map((result) => result.product)), 0),
      bare_events_per_second_median: round(median(results.map((result) => result.bare)), 0),
    },
    target: `bare / product ≤ ${TARGET}`,
    met: ratio.median <= TARGET,
    figure: `${ratio.median.toFixed(2)} (${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)}); product ${round(median(results.map((r) => r.product)), 0)} events/s`,
    method: `Product: \`kb-twitter-sync serve\` in its own process on SQLite, ${CONVERSATIONS} records tweeted, real-time replies turned on with `
      + '`account webhook enable`, reply polling hourly. Bare: an http server in the benchmark process that answers the CRC, checks each '
      + 'signature in constant time and parses the JSON. For each, other users post the replies while the emulator loses every delivery '
      + `(it keeps the events, as X does); each reply is two events, one per kind the product subscribes to (${EVENT_TYPES.join(', ')}), `
      + 'so N events are N / 2 replies. Then one `POST /2/webhooks/replay` sends them all, one after another as each is answered; '
      + 'timed from the replay request until the product\'s log holds every reply written into its record (read every 20 ms) or the '
      + 'bare receiver counted them all. The two sides alternate in order, on a freshly reset emulator.',
  };
}
