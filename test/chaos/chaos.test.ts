import assert from 'node:assert/strict';
import { startEmulatorProcess, TestEnv, type Daemon } from '../support/test-env';
import { figures, writeReliabilityReport } from './reliability-report';

const RUNS = Number(process.env.KBTS_CHAOS_RUNS ?? 50);
const ENDPOINTS = ['POST /2/tweets', 'GET /2/users/:id/mentions', 'GET /2/users/:id/tweets', 'GET /2/tweets/search/recent', 'GET /2/users/me'];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const between = (low: number, high: number) => low + Math.random() * (high - low);

/**
 * Waits for the daemon's 'scheduler started' line: on a loaded machine start-up alone can take
 * seconds, and a kill before it would test nothing but process start. The daemon must log at info.
 */
async function untilStarted(daemon: Daemon, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!daemon.logLines.some((line) => line.message === 'scheduler started')) {
    if (daemon.child.exitCode !== null) throw new Error(`the daemon exited with ${daemon.child.exitCode} before starting: ${daemon.stdout}`);
    if (Date.now() > deadline) throw new Error('the daemon did not start its scheduler within a minute');
    await sleep(50);
  }
}

interface World {
  world: TestEnv;
  integrationId: number;
  records: string[];
  replies: Array<{ index: number; text: string; tweetId: string; id: string }>;
}

async function createWorld(emulatorUrl: string, username: string): Promise<World> {
  const world = await TestEnv.create('sqlite', { emulatorUrl });
  for (const endpoint of ENDPOINTS) await world.control('POST', '/rate-limits', { endpoint, limit: 1_000_000 });
  const accountId = await world.addAccount(await world.createXUser(username));
  await world.sql('CREATE TABLE items (id INTEGER PRIMARY KEY, tweet_text TEXT, replies TEXT, keep_going TEXT)');
  const integrationId = await world.addIntegration({
    account: String(accountId), table: 'items', 'tweet-field': 'tweet_text', 'response-field': 'replies',
    mode: 'append', 'continue-field': 'keep_going', every: '* * * * * *',
  });
  return { world, integrationId, records: [], replies: [] };
}

async function insertRecord(state: World, text: string): Promise<void> {
  await state.world.sql("INSERT INTO items (tweet_text, keep_going) VALUES (?, 'Yes')", [text]);
  state.records.push(text);
}

async function replyToSomeTweet(state: World, username: string, text: string): Promise<void> {
  const tweets = await state.world.tweetsBy(username);
  if (tweets.length === 0) return;
  const target = tweets[Math.floor(Math.random() * tweets.length)];
  const reply = await state.world.replyAs(`reader_${state.replies.length % 37}`, target.id, text);
  state.replies.push({ index: state.replies.length, text, tweetId: target.id, id: reply.id });
}

// settle() keeps polling while the work still moves; it gives up after this many polls in a row
// with no progress, or after this long in all (a loaded machine's polls are slow, not stuck).
const SETTLE_IDLE_POLLS = 5;
const SETTLE_LIMIT_MS = 10 * 60_000;

/**
 * Polls until nothing is pending or sending and every reply is logged; returns the polls it took.
 * It stops early only when polls stop making progress (replies logged, records settled), and then
 * prints what is missing, so a failure says whether replies were late or lost.
 */
async function settle(state: World, username: string): Promise<number> {
  const started = Date.now();
  let best = { open: Infinity, logged: -1 };
  let idle = 0;
  let poll = 0;
  while (true) {
    poll++;
    const result = await state.world.cli(['--json', 'poll', '--once'], { KBTS_LEASE_SECONDS: '2' });
    assert.equal(result.code, 0, result.stderr);
    const [open] = await state.world.sql("SELECT COUNT(*) AS n FROM kbts_publications WHERE state IN ('pending', 'sending')");
    const [logged] = await state.world.sql("SELECT COUNT(*) AS n FROM kbts_communications WHERE direction = 'in'");
    const now = { open: Number(open.n), logged: Number(logged.n) };
    if (now.open === 0 && now.logged === state.replies.length) return poll;
    const progressed = now.open < best.open || now.logged > best.logged;
    best = { open: Math.min(best.open, now.open), logged: Math.max(best.logged, now.logged) };
    idle = progressed ? 0 : idle + 1;
    if (idle >= SETTLE_IDLE_POLLS || Date.now() - started > SETTLE_LIMIT_MS) {
      process.stdout.write(await whatIsMissing(state, username, poll, Date.now() - started));
      return poll;
    }
    // A lease left by a killed process runs out after KBTS_LEASE_SECONDS.
    await sleep(1000);
  }
}

/**
 * The replies not in the communications log when settle gave up: how many, which (as runs of the
 * replier's numbers), their conversations' publication states, whether the tweets are on the
 * emulator and whether the mentions cursor has passed them. Replies still ahead of the cursor
 * are late; replies behind it (past the read overlap) will never be read again: lost.
 */
async function whatIsMissing(state: World, username: string, polls: number, elapsedMs: number): Promise<string> {
  const logged = new Set((await state.world.sql<{ tweet_id: string }>("SELECT tweet_id FROM kbts_communications WHERE direction = 'in'")).map((row) => row.tweet_id));
  const missing = state.replies.filter((reply) => !logged.has(reply.id));
  const publications = await state.world.sql<{ tweet_id: string | null; state: string; record_text: string }>(
    'SELECT p.tweet_id, p.state, i.tweet_text AS record_text FROM kbts_publications p JOIN items i ON p.record_key = CAST(i.id AS TEXT) WHERE p.integration_id = ?', [state.integrationId]);
  const byTweetId = new Map(publications.filter((row) => row.tweet_id).map((row) => [row.tweet_id as string, row.state]));
  const tweets = await state.world.tweetsBy(username);
  const tweetIds = new Set(tweets.map((tweet) => tweet.id));
  const [account] = await state.world.sql<{ mentions_cursor_id: string | null }>('SELECT mentions_cursor_id FROM kbts_accounts');
  const cursor = account?.mentions_cursor_id ?? null;
  const overlapMs = 60_000; // KBTS_REPLY_OVERLAP_SECONDS' default
  const count = (values: string[]) => Object.entries(values.reduce<Record<string, number>>((all, value) => ({ ...all, [value]: (all[value] ?? 0) + 1 }), {}))
    .map(([value, n]) => `${value}: ${n}`).join(', ');
  const numbers = missing.map((reply) => reply.index);
  const runs: string[] = [];
  for (let i = 0; i < numbers.length;) {
    let j = i;
    while (j + 1 < numbers.length && numbers[j + 1] === numbers[j] + 1) j++;
    runs.push(i === j ? `${numbers[i]}` : `${numbers[i]}-${numbers[j]}`);
    i = j + 1;
  }
  const idTime = (id: string) => Number(BigInt(id) >> 22n);
  const behind = cursor ? missing.filter((reply) => idTime(reply.id) < idTime(cursor) - overlapMs).length : 0;
  const onEmulator = missing.filter((reply) => tweetIds.has(reply.tweetId)).length;
  return [
    `      settle gave up after ${polls} polls, ${(elapsedMs / 1000).toFixed(0)} s: ${missing.length} of ${state.replies.length} replies not logged`,
    `        missing replies (replier's numbers): ${runs.slice(0, 40).join(', ')}${runs.length > 40 ? `, … (${runs.length} runs)` : ''}`,
    `        their conversations' publications: ${count(missing.map((reply) => byTweetId.get(reply.tweetId) ?? 'no publication with this tweet id'))}`,
    `        their conversations' tweets on the emulator: ${onEmulator} of ${missing.length}`,
    `        behind the mentions cursor by more than the read overlap (never read again: lost): ${behind} of ${missing.length}`,
    `        publication states now: ${count(publications.map((row) => row.state))}`,
    '',
  ].join('\n');
}

/** The end checks of every run; returns the duplicates and losses it found. */
async function checkExactlyOnce(state: World, username: string): Promise<{ duplicates: number; losses: number; tweets: number }> {
  const tweets = await state.world.tweetsBy(username);
  const byText = new Map<string, number>();
  for (const tweet of tweets) byText.set(tweet.text, (byText.get(tweet.text) ?? 0) + 1);
  let duplicates = 0;
  let losses = 0;
  for (const text of state.records) {
    const count = byText.get(text) ?? 0;
    if (count > 1) duplicates += count - 1;
    if (count === 0) losses++;
  }
  const rows = await state.world.sql<{ replies: string | null; tweet_id: string }>(
    'SELECT i.replies, p.tweet_id FROM items i JOIN kbts_publications p ON p.record_key = CAST(i.id AS TEXT) AND p.integration_id = ?', [state.integrationId]);
  const fieldByTweet = new Map(rows.map((row) => [row.tweet_id, row.replies ?? '']));
  const logged = await state.world.sql<{ text: string; applied: number }>("SELECT text, applied FROM kbts_communications WHERE direction = 'in'");
  for (const reply of state.replies) {
    const inRecord = (fieldByTweet.get(reply.tweetId) ?? '').split('\n').filter((line) => line.endsWith(`: ${reply.text}`)).length;
    const inLog = logged.filter((row) => row.text.endsWith(reply.text)).length;
    if (inRecord > 1 || inLog > 1) duplicates++;
    if (inRecord === 0 || inLog === 0) losses++;
  }
  const [open] = await state.world.sql("SELECT COUNT(*) AS n FROM kbts_publications WHERE state IN ('pending', 'sending')");
  assert.equal(Number(open.n), 0, 'no record is left pending');
  const [integrity] = await state.world.sql('PRAGMA integrity_check');
  assert.equal(integrity.integrity_check, 'ok');
  return { duplicates, losses, tweets: tweets.length };
}

describe(`chaos suites (runs: ${RUNS})`, function () {
  this.timeout(0);
  let emulator: { url: string; close(): Promise<void> };

  before(async () => { emulator = await startEmulatorProcess(); });
  after(async () => {
    await emulator.close();
    writeReliabilityReport(RUNS);
  });

  it(`survives ${RUNS} SIGKILLs of a polling daemon with every record tweeted once and every reply kept once`, async () => {
    const state = await createWorld(emulator.url, 'kb_crash');
    try {
      // Slower posts, so that kills land in the middle of the work.
      await state.world.control('POST', '/faults', { rules: [{ endpoint: 'POST /2/tweets', kind: 'latency', ms: 15, probability: 1 }] });
      let stop = false;
      const writer = (async () => {
        for (let i = 0; !stop; i++) {
          await insertRecord(state, `Crash-test record ${i}`);
          await sleep(between(40, 160));
        }
      })();
      const replier = (async () => {
        for (let i = 0; !stop; i++) {
          await replyToSomeTweet(state, 'kb_crash', `crash reply ${i}`);
          await sleep(between(60, 200));
        }
      })();
      let kills = 0;
      // Reply polls that got to the end (their replies and cursor committed) before a kill: on a
      // loaded machine few do, and the mentions backlog the next read must cover grows.
      let replyPolls = 0;
      let daemon: Daemon | null = null;
      while (kills < RUNS) {
        daemon = state.world.startDaemon(['poll'], { KBTS_LEASE_SECONDS: '2', KBTS_SCHEDULER_REFRESH_MS: '300', LOG_LEVEL: 'info' });
        await untilStarted(daemon);
        await sleep(between(300, 2000));
        await daemon.stop('SIGKILL');
        replyPolls += daemon.logLines.filter((line) => line.message === 'poll finished' && line.collect).length;
        kills++;
      }
      stop = true;
      await Promise.all([writer, replier]);
      const polls = await settle(state, 'kb_crash');
      const found = await checkExactlyOnce(state, 'kb_crash');
      figures.push({
        suite: 'crash',
        scenario: 'poll daemon killed with SIGKILL at random moments while records and replies arrive',
        values: { kills, records: state.records.length, tweets: found.tweets, replies: state.replies.length, 'reply polls finished between kills': replyPolls, 'duplicates found': found.duplicates, 'losses found': found.losses, 'polls to settle': polls },
      });
      process.stdout.write(`      crash: kills ${kills}, records ${state.records.length}, tweets ${found.tweets}, replies ${state.replies.length}, reply polls between kills ${replyPolls}, polls to settle ${polls}, duplicates ${found.duplicates}, losses ${found.losses}\n`);
      assert.equal(found.duplicates, 0);
      assert.equal(found.losses, 0);
      assert.equal(found.tweets, state.records.length);
    } finally {
      await state.world.close();
    }
  });

  it(`tweets on commit with two workers, one SIGKILLed ${Math.max(5, Math.ceil(RUNS / 5))} times, replies polled hourly: every record tweeted once`, async () => {
    const state = await createWorld(emulator.url, 'kb_realtime');
    try {
      // Replies hourly: every tweet here comes from the real-time path (the commit's wake-up, the sweep at start).
      await state.world.sql("UPDATE kbts_integrations SET schedule = '0 * * * *'");
      await state.world.control('POST', '/faults', { rules: [{ endpoint: 'POST /2/tweets', kind: 'latency', ms: 15, probability: 1 }] });
      const workerEnv = { KBTS_LEASE_SECONDS: '2', KBTS_SCHEDULER_REFRESH_MS: '300' };
      const steady = state.world.startDaemon(['poll'], workerEnv);
      let stop = false;
      const writer = (async () => {
        for (let i = 0; !stop; i++) {
          await insertRecord(state, `Real-time record ${i}`);
          await sleep(between(40, 160));
        }
      })();
      const kills = Math.max(5, Math.ceil(RUNS / 5));
      try {
        for (let kill = 0; kill < kills; kill++) {
          const victim = state.world.startDaemon(['poll'], { ...workerEnv, LOG_LEVEL: 'info' });
          await untilStarted(victim);
          await sleep(between(300, 2000));
          await victim.stop('SIGKILL');
        }
      } finally {
        stop = true;
        await writer;
      }
      // The steady worker tweets the rest on its own, within its lease time for what a killed one held.
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        const [open] = await state.world.sql("SELECT COUNT(*) AS n FROM kbts_publications WHERE state IN ('pending', 'sending')");
        if (Number(open.n) === 0) break;
        await sleep(500);
      }
      await steady.stop();
      const found = await checkExactlyOnce(state, 'kb_realtime');
      figures.push({
        suite: 'crash',
        scenario: 'tweet on commit: one of two workers killed with SIGKILL at random moments while records arrive',
        values: { kills, records: state.records.length, tweets: found.tweets, 'duplicates found': found.duplicates, 'losses found': found.losses },
      });
      process.stdout.write(`      real-time: kills ${kills}, records ${state.records.length}, tweets ${found.tweets}, duplicates ${found.duplicates}, losses ${found.losses}\n`);
      assert.equal(found.duplicates, 0);
      assert.equal(found.losses, 0);
      assert.equal(found.tweets, state.records.length);
    } finally {
      await state.world.close();
    }
  });

  const FAULTS: Array<{ name: string; rules: object[]; postFaults: number }> = [
    { name: 'latency', rules: [{ endpoint: '*', kind: 'latency', ms: 200, count: 20 }], postFaults: 0 },
    { name: '5xx', rules: [{ endpoint: 'POST /2/tweets', kind: 'status', status: 503, count: 4 }, { endpoint: 'GET /2/users/:id/mentions', kind: 'status', status: 500, count: 2 }], postFaults: 4 },
    { name: 'dropped connections', rules: [{ endpoint: 'POST /2/tweets', kind: 'drop', count: 4 }, { endpoint: 'GET /2/users/:id/mentions', kind: 'drop', count: 2 }], postFaults: 4 },
    { name: 'created but response lost', rules: [{ endpoint: 'POST /2/tweets', kind: 'lost_response', count: 4 }], postFaults: 0 },
    { name: '429 with a reset 3 s ahead', rules: [{ endpoint: 'POST /2/tweets', kind: 'rate_limit', resetInSeconds: 3, count: 1 }], postFaults: 1 },
    { name: 'malformed JSON', rules: [{ endpoint: 'POST /2/tweets', kind: 'malformed_json', count: 3 }, { endpoint: 'GET /2/users/:id/mentions', kind: 'malformed_json', count: 2 }], postFaults: 0 },
    { name: 'truncated body', rules: [{ endpoint: 'POST /2/tweets', kind: 'truncated', count: 3 }, { endpoint: 'GET /2/users/:id/mentions', kind: 'truncated', count: 2 }], postFaults: 0 },
    {
      name: 'all of them mixed',
      rules: ['status', 'drop', 'lost_response', 'malformed_json', 'truncated'].map((kind) => ({ endpoint: '*', kind, status: 502, probability: 0.06 })),
      postFaults: -1,
    },
  ];
  const mixedRounds = Math.max(1, Math.ceil(RUNS / 50));

  for (const fault of FAULTS) {
    const rounds = fault.postFaults === -1 ? mixedRounds : 1;
    it(`tweets each record once and keeps each reply once under ${fault.name}, with no retry storm`, async () => {
      for (let round = 0; round < rounds; round++) {
        const username = `kb_fault_${FAULTS.indexOf(fault)}_${round}`;
        const state = await createWorld(emulator.url, username);
        try {
          for (let i = 0; i < 20; i++) await insertRecord(state, `Fault ${fault.name} record ${i}`);
          const first = await state.world.cli(['--json', 'poll', '--once']);
          assert.equal(first.code, 0, first.stderr);
          for (let i = 0; i < 20; i++) await replyToSomeTweet(state, username, `fault reply ${i}`);
          await state.world.control('DELETE', '/calls');
          await state.world.control('POST', '/faults', { rules: fault.rules });
          for (let i = 20; i < 40; i++) await insertRecord(state, `Fault ${fault.name} record ${i}`);
          const started = Date.now();
          const polls = await settle(state, username);
          const seconds = (Date.now() - started) / 1000;
          await state.world.control('DELETE', '/faults');
          const calls = await state.world.control('GET', '/calls');
          const found = await checkExactlyOnce(state, username);
          const posts = calls.by_endpoint['POST /2/tweets'] ?? 0;
          figures.push({
            suite: 'faults',
            scenario: rounds > 1 ? `${fault.name} (round ${round + 1})` : fault.name,
            values: { records: state.records.length, replies: state.replies.length, 'post calls': posts, 'all API calls': calls.total, polls, seconds: seconds.toFixed(1), 'duplicates found': found.duplicates, 'losses found': found.losses },
          });
          assert.equal(found.duplicates, 0);
          assert.equal(found.losses, 0);
          // 20 new records: one post each, plus at most one more for each post the fault refused outright.
          if (fault.postFaults >= 0) assert.ok(posts <= 20 + fault.postFaults, `${posts} post calls`);
          else assert.ok(posts <= 20 * 2, `${posts} post calls`);
          assert.ok(calls.total <= posts + 6 * polls + 10, `${calls.total} calls in all: no retry storm`);
        } finally {
          await state.world.close();
        }
      }
    });
  }

  it('pauses on a 401 mid-run with the reason, and resumes cleanly once the account is fixed', async () => {
    const state = await createWorld(emulator.url, 'kb_revoked');
    try {
      for (let i = 0; i < 10; i++) await insertRecord(state, `Before revocation ${i}`);
      await state.world.cli(['poll', '--once']);
      await state.world.control('POST', '/users/kb_revoked/revoke');
      for (let i = 0; i < 10; i++) await insertRecord(state, `During revocation ${i}`);
      for (let i = 0; i < 5; i++) await replyToSomeTweet(state, 'kb_revoked', `reply while revoked ${i}`);
      const refused = await state.world.cli(['--json', 'poll', '--once']);
      assert.match(refused.json.errors.join(' '), /X refused the account's credentials \(401/);
      const listed = await state.world.cli(['--json', 'integration', 'list']);
      assert.equal(listed.json.integrations[0].status, 'paused');
      await state.world.control('DELETE', '/calls');
      assert.equal((await state.world.cli(['--json', 'poll', '--once'])).json.api_calls, 0, 'a paused integration makes no calls');
      await state.world.control('POST', '/users/kb_revoked/restore');
      await state.world.cli(['integration', 'resume', String(state.integrationId)]);
      const polls = await settle(state, 'kb_revoked');
      const found = await checkExactlyOnce(state, 'kb_revoked');
      figures.push({
        suite: 'faults',
        scenario: '401 mid-run, then the account fixed and the integration resumed',
        values: { records: state.records.length, replies: state.replies.length, polls, 'duplicates found': found.duplicates, 'losses found': found.losses },
      });
      assert.equal(found.duplicates, 0);
      assert.equal(found.losses, 0);
    } finally {
      await state.world.close();
    }
  });
});
