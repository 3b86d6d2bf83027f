import { performance } from 'node:perf_hooks';
import type { TwitterApi } from 'twitter-api-v2';
import { runPollCycle } from '../src/sync/poll-cycle';
import { REPLY_EXPANSIONS, TWEET_FIELDS } from '../src/twitter/x-client';
import { bareClient, median, ProductWorld, round, settle, spread, type EmulatorProcess } from './harness';
import type { ScenarioResult } from './report';

const TARGET = 1.5;
const PAGE = 100;
// X serves only the 800 newest mentions; older ones are read by recent search.
const MENTIONS_REACH = 800;
// The very fields and expansions the product asks for (media and long posts need theirs), so
// both sides fetch the same pages and the emulator does the same work for each.
const FIELDS = { 'tweet.fields': TWEET_FIELDS, ...REPLY_EXPANSIONS };

interface Page {
  data?: Array<{ id: string }>;
  meta?: { next_token?: string };
}

/** Every page of one read, as a client without the product would fetch them. */
async function readPages(client: TwitterApi, path: string, query: Record<string, string | number>, tokenName: string): Promise<{ pages: number; ids: string[] }> {
  const ids: string[] = [];
  let pages = 0;
  let token: string | undefined;
  do {
    const page = await client.v2.get<Page>(path, token ? { ...query, [tokenName]: token } : query);
    pages++;
    for (const tweet of page.data ?? []) ids.push(tweet.id);
    token = page.meta?.next_token;
  } while (token);
  return { pages, ids };
}

/** The pages the product reads for this backlog: mentions, then recent search below their reach. */
async function bareRead(client: TwitterApi, user: { id: string; username: string }, sinceId: string): Promise<{ pages: number; tweets: number }> {
  const mentions = await readPages(client, `users/${user.id}/mentions`, { max_results: PAGE, since_id: sinceId, ...FIELDS }, 'pagination_token');
  let { pages } = mentions;
  let tweets = mentions.ids.length;
  if (mentions.ids.length >= MENTIONS_REACH) {
    const oldest = mentions.ids.reduce((low, id) => (BigInt(id) < BigInt(low) ? id : low));
    const rest = await readPages(client, 'tweets/search/recent', { query: `@${user.username}`, max_results: PAGE, since_id: sinceId, until_id: oldest, ...FIELDS }, 'next_token');
    pages += rest.pages;
    tweets += rest.ids.length;
  }
  return { pages, tweets };
}

async function oneRun(emulator: EmulatorProcess, conversations: number, replies: number, label: string, productFirst: boolean) {
  await emulator.reset();
  const world = await ProductWorld.create(emulator, `replies_${label}`);
  try {
    return await timeRun(emulator, world, conversations, replies, label, productFirst);
  } finally {
    await world.close();
  }
}

async function timeRun(emulator: EmulatorProcess, world: ProductWorld, conversations: number, replies: number, label: string, productFirst: boolean) {
  world.insertArticles(Array.from({ length: conversations }, (_, i) => `Open question ${label}-${i}: tell us what you think`));
  await world.publishAll(conversations);
  const tweets = await emulator.tweetsBy(world.user.username);
  await emulator.postReplies(Array.from({ length: replies }, (_, i) => ({
    as: `reader${i % 100}`, text: `Reply ${i}: here is what I think`, to: tweets[i % tweets.length].id,
  })));
  const account = (await world.services.accounts.list())[0];
  if (account.mentionsCursorId) throw new Error('the benchmark expects no mentions before the replies');
  // Where the product starts reading: just before its first tweet.
  const sinceId = (BigInt(tweets[0].id) - 1n).toString();
  const bare = bareClient(world.user, emulator.url);
  // One unmeasured read, so the emulator's garbage from the set-up is not paid by whichever side goes first.
  await bareRead(bare, world.user, sinceId);

  let productMs = 0;
  let bareMs = 0;
  let product = { applied: 0, calls: 0 };
  let bareResult = { pages: 0, tweets: 0 };
  const runProduct = async () => {
    settle();
    const started = performance.now();
    const counts = await runPollCycle(world.services.sync);
    productMs = performance.now() - started;
    product = { applied: counts.repliesApplied, calls: counts.apiCalls };
  };
  const runBare = async () => {
    settle();
    const started = performance.now();
    bareResult = await bareRead(bare, world.user, sinceId);
    bareMs = performance.now() - started;
  };
  if (productFirst) {
    await runProduct();
    await runBare();
  } else {
    await runBare();
    await runProduct();
  }
  if (product.applied !== replies) throw new Error(`the product wrote ${product.applied} of ${replies} replies`);
  if (bareResult.tweets !== replies) throw new Error(`the bare client read ${bareResult.tweets} of ${replies} replies`);
  const [{ n: logged }] = await world.services.db('kbts_communications').where({ direction: 'in', applied: true }).count({ n: '*' });
  if (Number(logged) !== replies) throw new Error(`the log holds ${logged} of ${replies} replies`);
  return { productMs, bareMs, productCalls: product.calls, barePages: bareResult.pages };
}

/** 2. One poll collecting a backlog of replies over many open conversations, against the bare client reading the same pages. */
export async function replyIngestion(emulator: EmulatorProcess, conversations: number, replies: number, runs: number): Promise<ScenarioResult> {
  // One smaller unmeasured round first (still past the mentions' reach), for the JIT's warm-up.
  await oneRun(emulator, conversations / 5, MENTIONS_REACH + 200, 'warmup', true);
  const results = [];
  for (let run = 0; run < runs; run++) results.push(await oneRun(emulator, conversations, replies, `r${run}`, run % 2 === 1));
  const ratios = results.map((result) => result.productMs / result.bareMs);
  const ratio = spread(ratios);
  const minimumCalls = 1 + Math.ceil(replies / PAGE);
  const calls = results[0].productCalls;
  const callsMet = results.every((result) => result.productCalls <= minimumCalls && result.productCalls === result.barePages);
  return {
    id: 2,
    title: `Reply ingestion: ${replies.toLocaleString('en')} replies over ${conversations.toLocaleString('en')} open conversations in one poll, product / bare client`,
    values: {
      conversations,
      replies,
      ratio,
      ratio_runs: ratios.map((value) => round(value)),
      product_ms_median: round(median(results.map((result) => result.productMs)), 0),
      bare_ms_median: round(median(results.map((result) => result.bareMs)), 0),
      product_api_calls: calls,
      bare_pages: results[0].barePages,
      minimum_calls: minimumCalls,
      pages_by_kind: { mentions: MENTIONS_REACH / PAGE, recent_search: Math.ceil((replies - MENTIONS_REACH) / PAGE) },
    },
    target: `product / bare ≤ ${TARGET}; API calls ≤ 1 + pages (${minimumCalls})`,
    met: ratio.median <= TARGET && callsMet,
    figure: `${ratio.median.toFixed(2)} (${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)}); ${calls} calls`,
    method: `Each run publishes ${conversations} records, then other users post ${replies} replies (${replies / conversations} per conversation). `
      + 'The product\'s poll (in this process) is timed against a bare twitter-api-v2 client fetching the same pages: the mentions '
      + `timeline, which X stops at its ${MENTIONS_REACH} newest, then recent search for the account's @handle below that. `
      + 'The product also matches each reply to its record, formats it, writes it into the record and logs it. '
      + 'A smaller unmeasured round goes first; the two sides alternate in order, each after a garbage collection.',
  };
}
