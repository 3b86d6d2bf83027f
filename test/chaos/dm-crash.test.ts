import assert from 'node:assert/strict';
import type { Services } from '../../src/app';
import { addChannel } from '../../src/channels/channel-setup';
import { queueDmReply } from '../../src/sync/outbound/direct-messages';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { startEmulatorProcess, TestEnv, type Daemon } from '../support/test-env';
import { figures } from './reliability-report';

const RUNS = Number(process.env.KBTS_CHAOS_RUNS ?? 50);
const KILLS = Math.max(5, Math.ceil(RUNS / 5));
const LIMITED = ['GET /2/dm_events', 'POST /2/dm_conversations/with/:id/messages', 'GET /2/users/:id/mentions', 'GET /2/users/me', 'POST /2/tweets', 'GET /2/users/:id/tweets'];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const between = (low: number, high: number) => low + Math.random() * (high - low);

async function startedScheduler(daemon: Daemon, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!daemon.logLines.some((line) => line.message === 'scheduler started')) {
    if (Date.now() > deadline) throw new Error(`the daemon did not start its scheduler: ${JSON.stringify(daemon.logLines.slice(-5))}`);
    await sleep(50);
  }
}

describe(`direct messages crash suite (kills: ${KILLS})`, function () {
  this.timeout(0);
  let emulator: { url: string; close(): Promise<void> };
  let world: TestEnv;
  let services: Services;

  before(async () => {
    emulator = await startEmulatorProcess();
    world = await TestEnv.create('sqlite', { emulatorUrl: emulator.url });
  });
  after(async () => {
    await world.close();
    await emulator.close();
  });

  it(`a polling daemon SIGKILLed ${KILLS} times while DMs arrive and replies are queued: every DM in exactly one record, every reply sent once`, async () => {
    for (const endpoint of LIMITED) await world.control('POST', '/rate-limits', { endpoint, limit: 1_000_000 });
    const account = await world.createXUser('kb_dm_crash');
    const accountId = await world.addAccount(account);
    await world.sql('CREATE TABLE items (id INTEGER PRIMARY KEY, tweet_text TEXT, replies TEXT, keep_going TEXT)');
    await world.sql('CREATE TABLE tickets (id INTEGER PRIMARY KEY, body TEXT, author TEXT, link TEXT, conversation TEXT, still_open TEXT)');
    // The integration's reply polls (every second) are the runs the channel rides on.
    await world.addIntegration({ account: String(accountId), table: 'items', 'tweet-field': 'tweet_text', 'response-field': 'replies', mode: 'append', 'continue-field': 'keep_going', every: '* * * * * *' });
    services = await world.services();
    const { channel } = await addChannel({ db: services.db, accounts: services.accounts, integrations: services.integrations, clock: services.clock }, {
      accountId, kind: 'dms', table: 'tickets', textField: 'body', authorField: 'author', linkField: 'link', responseField: 'conversation', mode: 'append', continueField: 'still_open',
    });
    // Slower sends, so that kills land between a DM going out and its log.
    await world.control('POST', '/faults', { rules: [{ endpoint: 'POST /2/dm_conversations/with/:id/messages', kind: 'latency', ms: 20, probability: 1 }] });

    const sentDms: string[] = [];
    const answers: string[] = [];
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        const text = `dm ${i}`;
        await world.control('POST', '/dms', { as: `person_${i % 7}`, to: account.username, text });
        sentDms.push(text);
        // Now and then a person's conversation is closed: their next message opens a new record.
        if (i % 9 === 8) await world.sql("UPDATE tickets SET still_open = 'No' WHERE id = (SELECT MAX(id) FROM tickets)");
        await sleep(between(40, 140));
      }
    })();
    const replier = (async () => {
      for (let j = 0; !stop; j++) {
        await sleep(between(150, 400));
        const [row] = await world.sql("SELECT DISTINCT record_key FROM kbts_channel_entries WHERE direction = 'in' AND record_key IS NOT NULL ORDER BY RANDOM() LIMIT 1");
        if (!row) continue;
        const text = `answer ${j}`;
        await queueDmReply(services.sync, { channelId: channel.id, recordKey: row.record_key, text, requestedBy: 'chaos' });
        answers.push(text);
      }
    })();
    for (let kills = 0; kills < KILLS; kills++) {
      const daemon = world.startDaemon(['poll'], { LOG_LEVEL: 'info', KBTS_LEASE_SECONDS: '2', KBTS_SCHEDULER_REFRESH_MS: '300' });
      await startedScheduler(daemon);
      await sleep(between(200, 2000));
      await daemon.stop('SIGKILL');
    }
    stop = true;
    await Promise.all([writer, replier]);

    // Settle: polls in this process until every DM is logged and no reply waits (a killed lease runs out in 2 s).
    let polls = 0;
    for (; polls < 30; polls++) {
      await runPollCycle(services.sync);
      const [logged] = await world.sql("SELECT COUNT(*) AS n FROM kbts_channel_entries WHERE direction = 'in'");
      const [waiting] = await world.sql("SELECT COUNT(*) AS n FROM kbts_dm_replies WHERE state IN ('pending', 'sending')");
      if (Number(logged.n) === sentDms.length && Number(waiting.n) === 0) break;
      await sleep(1000);
    }

    const conversations = (await world.sql<{ conversation: string | null }>('SELECT conversation FROM tickets')).map((row) => row.conversation ?? '');
    let duplicates = 0;
    let losses = 0;
    for (const text of sentDms) {
      const inRecords = conversations.flatMap((field) => field.split('\n')).filter((line) => line.endsWith(`: ${text}`)).length;
      if (inRecords > 1) duplicates++;
      if (inRecords === 0) losses++;
    }
    // A kept-alive connection the emulator closed meanwhile is opened again once.
    const listed = await world.control('GET', `/dms?user=${account.username}`).catch(() => world.control('GET', `/dms?user=${account.username}`));
    const onX = listed.dms.filter((dm: { sender_username: string }) => dm.sender_username === account.username);
    let repliesTwice = 0;
    let repliesLost = 0;
    for (const text of answers) {
      const count = onX.filter((dm: { text: string }) => dm.text === text).length;
      if (count > 1) repliesTwice++;
      if (count === 0) repliesLost++;
    }
    const [unowned] = await world.sql("SELECT COUNT(*) AS n FROM kbts_channel_entries WHERE direction = 'out' AND dm_reply_id IS NULL");
    const [integrity] = await world.sql('PRAGMA integrity_check');
    figures.push({
      suite: 'crash',
      scenario: 'poll daemon killed with SIGKILL while direct messages arrive and DM replies are queued (DM channel)',
      values: { kills: KILLS, 'DMs in': sentDms.length, 'replies queued': answers.length, 'DMs written twice': duplicates, 'DMs lost': losses, 'replies sent twice': repliesTwice, 'replies lost': repliesLost, 'polls to settle': polls + 1 },
    });
    process.stdout.write(`      dm crash: kills ${KILLS}, DMs ${sentDms.length}, replies ${answers.length}, duplicates ${duplicates}, losses ${losses}, replies twice ${repliesTwice}, replies lost ${repliesLost}\n`);
    assert.equal(integrity.integrity_check, 'ok');
    assert.equal(duplicates, 0);
    assert.equal(losses, 0);
    assert.equal(repliesTwice, 0);
    assert.equal(repliesLost, 0);
    assert.equal(Number(unowned.n), 0, 'every DM of the account is a queued reply\'s, none taken for one sent from an X client');
  });
});
