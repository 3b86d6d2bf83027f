import assert from 'node:assert/strict';
import { hashPassword } from '../../src/lib/password';
import { toIso } from '../../src/lib/clock';
import { queueAgentReply } from '../../src/sync/outbound/agent-replies';
import { createArticlesWorld, type ArticlesWorld, type Daemon } from '../support/test-env';
import { figures } from './reliability-report';

const RUNS = Number(process.env.KBTS_CHAOS_RUNS ?? 50);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const between = (low: number, high: number) => low + Math.random() * (high - low);

async function waitFor(check: () => Promise<boolean> | boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe(`agent replies under SIGKILL (runs: ${RUNS})`, function () {
  this.timeout(0);
  let state: ArticlesWorld;

  beforeEach(async () => { state = await createArticlesWorld('sqlite', { username: 'kb_talk' }); });
  afterEach(async () => state.world.close());

  const kills = Math.max(5, Math.ceil(RUNS / 5));
  it(`posts every agent reply once, and keeps it in its record once, through ${kills} or more SIGKILLs of the daemon posting them`, async () => {
    const { world } = state;
    await world.control('POST', '/rate-limits', { endpoint: 'POST /2/tweets', limit: 1_000_000 });
    await world.sql("INSERT INTO articles (title, tweet_text, keep_going) VALUES ('Q', 'Ask us anything', 'Yes')");
    await world.pollOnce();
    const userId = await world.asNewProcess(async (services) => services.users.create('agent', await hashPassword('a long enough password'), 'editor', toIso(services.clock.now())));
    // Slow posts, 40 ms before X makes the reply and 80 ms after it, before the answer: a kill
    // during the posts most often lands after a reply is on X and before the daemon commits it.
    await world.control('POST', '/faults', { rules: [
      { endpoint: 'POST /2/tweets', kind: 'latency', ms: 40, probability: 1 },
      { endpoint: 'POST /2/tweets', kind: 'latency', ms: 80, afterWork: true, probability: 1 },
    ] });
    const texts: string[] = [];
    let daemon: Daemon | null = null;
    let uncommittedAtKills = 0;
    // Kills land at random: until one has landed between a post and its commit (the moment this
    // suite is for), more are made, up to four times as many.
    let killsMade = 0;
    for (; killsMade < kills || (uncommittedAtKills === 0 && killsMade < kills * 4); killsMade++) {
      daemon = world.startDaemon(['poll'], { KBTS_LEASE_SECONDS: '2', KBTS_PUBLISH_SWEEP_MS: '150', LOG_LEVEL: 'info' });
      const started = daemon;
      await waitFor(() => started.logLines.some((line) => line.message === 'scheduler started'), 'the daemon to start its scheduler', 60_000);
      // Queued while it runs: its sweep takes them up, and the kill lands among their posts.
      await world.asNewProcess(async (services) => {
        for (let i = 0; i < 6; i++) {
          const text = `Agent answer ${texts.length}`;
          await queueAgentReply(services, { integrationId: state.integrationId, recordKey: '1', text, userId, idempotencyKey: `crash-${texts.length}` });
          texts.push(text);
        }
      });
      await sleep(between(150, 600));
      await daemon.stop('SIGKILL');
      const posted = (await world.tweetsBy('kb_talk')).filter((tweet) => texts.includes(tweet.text)).length;
      const [sent] = await world.sql("SELECT COUNT(*) AS n FROM kbts_agent_replies WHERE state = 'sent'");
      if (posted > Number(sent.n)) uncommittedAtKills++;
    }
    await world.control('DELETE', '/faults');
    let polls = 0;
    for (; polls < 10; polls++) {
      await sleep(2500); // a killed daemon's lease runs out
      await world.pollOnce();
      const [open] = await world.sql("SELECT COUNT(*) AS n FROM kbts_agent_replies WHERE state IN ('pending', 'sending')");
      if (Number(open.n) === 0) break;
    }

    const onX = (await world.tweetsBy('kb_talk')).map((tweet) => tweet.text);
    const field = String((await world.sql('SELECT replies FROM articles WHERE id = 1'))[0].replies ?? '').split('\n');
    const logged = await world.sql("SELECT text FROM kbts_communications WHERE direction = 'out' AND written_by = 'agent'");
    let duplicates = 0;
    let losses = 0;
    for (const text of texts) {
      for (const count of [onX.filter((posted) => posted === text).length, field.filter((line) => line.endsWith(`(A.): ${text}`)).length, logged.filter((row) => row.text === text).length]) {
        if (count > 1) duplicates++;
        if (count === 0) losses++;
      }
    }
    const states = await world.sql('SELECT state, COUNT(*) AS n FROM kbts_agent_replies GROUP BY state');
    figures.push({
      suite: 'crash',
      scenario: 'agent replies: the daemon posting them killed with SIGKILL at random moments, posts slowed to 120 ms, 80 of them after the post is made',
      values: { kills: killsMade, 'kills between a post and its commit': uncommittedAtKills, replies: texts.length, 'duplicates found': duplicates, 'losses found': losses, 'polls to settle': polls + 1 },
    });
    process.stdout.write(`      agent replies: kills ${killsMade} (${uncommittedAtKills} between a post and its commit), replies ${texts.length}, duplicates ${duplicates}, losses ${losses}\n`);
    assert.deepEqual(states.map((row) => [row.state, Number(row.n)]), [['sent', texts.length]]);
    assert.equal(duplicates, 0);
    assert.equal(losses, 0);
    assert.ok(uncommittedAtKills > 0, 'some kill landed after a post went out and before its commit');
  });
});
