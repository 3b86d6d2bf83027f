import assert from 'node:assert/strict';
import { snowflakeAt, snowflakeTime, type StartedEmulator } from '../../src/emulator/emulator';
import { createArticlesWorld, describeEachDatabase, type TestEnv } from '../support/test-env';

const INSERT_ARTICLE = 'INSERT INTO articles (title, tweet_text, keep_going) VALUES (?, ?, ?)';
const DAY_MS = 24 * 60 * 60 * 1000;

describeEachDatabase('reply backlogs beyond what the mentions timeline reaches', (database) => {
  let world: TestEnv;
  let accountId: number;

  beforeEach(async () => {
    ({ world, accountId } = await createArticlesWorld(database));
  });
  afterEach(async () => world.close());

  const pollOnce = () => world.pollOnce();

  it('writes every one of 850 replies in one poll although X serves only the 800 newest mentions', async () => {
    for (const title of ['a', 'b', 'c']) await world.sql(INSERT_ARTICLE, [title, `Backlog article ${title}`, 'Yes']);
    await pollOnce();
    const tweets = await world.tweetsBy('kb_news');
    const byTweet = new Map(tweets.map((tweet) => [tweet.id, 0]));
    for (let i = 0; i < 850; i++) {
      const tweet = tweets[i % tweets.length];
      await world.replyAs(`reader${i % 10}`, tweet.id, `reply number ${i}`);
      byTweet.set(tweet.id, (byTweet.get(tweet.id) ?? 0) + 1);
    }
    const summary = await pollOnce();
    assert.equal(summary.replies_applied, 850);
    const rows = await world.sql('SELECT id, replies FROM articles ORDER BY id');
    const services = await world.services();
    for (const row of rows) {
      const sent = await services.publications.findByRecord(1, String(row.id));
      const entries = String(row.replies).split('\n');
      assert.equal(entries.length, byTweet.get(sent?.tweetId as string));
    }
    // The oldest replies are the ones the mentions timeline no longer reaches.
    assert.match(rows[0].replies, /: reply number 0\n/);
    assert.equal((await pollOnce()).replies_applied, 0, 'nothing is written twice');
  });

  it('writes a backlog past the 800 newest mentions although replies come in while the timeline is read page by page', async () => {
    for (const title of ['a', 'b', 'c']) await world.sql(INSERT_ARTICLE, [title, `Busy article ${title}`, 'Yes']);
    await pollOnce();
    const tweets = await world.tweetsBy('kb_news');
    for (let i = 0; i < 850; i++) await world.replyAs(`reader${i % 10}`, tweets[i % tweets.length].id, `early reply ${i}`);
    // Minutes later, past the read overlap, while the poller was away.
    await world.setEmulatorClock({ advance_ms: 5 * 60_000 });
    // X counts its 800 newest at each page: five replies that come in between the first and the
    // second page push the five oldest of them out of the timeline's reach, so it serves 795.
    const state = (world.emulator as StartedEmulator).state;
    const mentionsOf = state.mentionsOf.bind(state);
    let pages = 0;
    state.mentionsOf = (username) => {
      if (++pages === 2) for (let i = 0; i < 5; i++) state.postAs({ as: 'latecomer', text: `late reply ${i}`, in_reply_to_tweet_id: tweets[0].id });
      return mentionsOf(username);
    };
    const first = await pollOnce();
    state.mentionsOf = mentionsOf;
    assert.deepEqual(first.errors, []);
    assert.ok(first.replies_applied >= 850, `${first.replies_applied} replies written by the poll that read the backlog`);
    await pollOnce();
    const logged = await world.sql<{ text: string }>("SELECT text FROM kbts_communications WHERE direction = 'in'");
    const texts = new Set(logged.map((row) => row.text.replace(/^(@\w+ )+/, '')));
    const missing = Array.from({ length: 850 }, (_, i) => `early reply ${i}`).filter((text) => !texts.has(text));
    assert.deepEqual(missing, [], 'no early reply is skipped by the cursor');
    assert.equal(logged.length, 855);
  });

  it('still reads sub-threads when the cursor is older than the 7 days recent search covers', async () => {
    await world.sql(INSERT_ARTICLE, ['a', 'Back after a long pause', 'Yes']);
    await pollOnce();
    const [tweet] = await world.tweetsBy('kb_news');
    // As if the poller had been stopped for eight days.
    await world.sql('UPDATE kbts_accounts SET mentions_cursor_id = ? WHERE id = ?', [snowflakeAt((await world.emulatorNow()).toMillis() - 8 * DAY_MS).toString(), accountId]);
    const first = await world.replyAs('alice', tweet.id, 'what do you think, bob?');
    const second = await world.replyAs('bob', first.id, 'I agree with alice');
    // Found only by searching the conversation, which X refuses to do from before its window.
    await world.replyAs('carol', second.id, 'me too', { mention: false });
    const summary = await pollOnce();
    assert.deepEqual(summary.errors, []);
    assert.equal(summary.replies_applied, 3);
  });

  // The timeline's 8 pages fit the cap; the search past them gets 8 pages (800 posts) per read.
  const CAP = { KBTS_MAX_PAGES_PER_READ: '8' };
  const backlogWindow = async () => (await world.sql('SELECT backlog_since_id, backlog_until_id FROM kbts_accounts WHERE id = ?', [accountId]))[0];

  it('reads a backlog larger than one read over the next polls, from where the last read stopped, each reply once', async () => {
    for (const title of ['a', 'b']) await world.sql(INSERT_ARTICLE, [title, `Viral article ${title}`, 'Yes']);
    await pollOnce();
    const tweets = await world.tweetsBy('kb_news');
    const state = (world.emulator as StartedEmulator).state;
    // 800 for the timeline, then 800, 800 and 200 for three reads of search.
    const total = 2600;
    for (let i = 0; i < total; i++) state.postAs({ as: `reader${i % 10}`, text: `viral reply ${i}`, in_reply_to_tweet_id: tweets[i % 2].id });

    await world.control('DELETE', '/calls');
    const first = await world.pollOnce(CAP);
    assert.equal((await world.control('GET', '/calls')).by_endpoint['GET /2/tweets/search/recent'], 8, 'the search stopped at the cap');
    assert.deepEqual(first.errors, [], 'a backlog past the cap is work left for later, not a failure');
    assert.equal(first.replies_applied, 1600);
    const [account] = await world.sql('SELECT mentions_cursor_id FROM kbts_accounts WHERE id = ?', [accountId]);
    assert.ok(account.mentions_cursor_id, 'the cursor moves past what was read');
    const left = await backlogWindow();
    assert.ok(left.backlog_since_id && left.backlog_until_id, 'the part not read is kept');
    const listed = await world.cli(['--json', 'account', 'list']);
    assert.deepEqual(listed.json.accounts[0].mentions_backlog, {
      from: new Date(snowflakeTime(left.backlog_since_id)).toISOString(),
      to: new Date(snowflakeTime(left.backlog_until_id)).toISOString(),
    }, 'account list says which backlog is still read');
    assert.match((await world.cli(['account', 'list'])).stdout, /still reading a backlog of mentions posted between \S+Z and \S+Z/);

    const second = await world.pollOnce(CAP);
    assert.deepEqual(second.errors, []);
    assert.equal(second.replies_applied, 800, 'the next poll reads on from where the first stopped');
    assert.equal((await backlogWindow()).backlog_since_id, left.backlog_since_id);
    assert.ok(BigInt((await backlogWindow()).backlog_until_id) < BigInt(left.backlog_until_id), 'the window shrinks');

    assert.equal((await world.pollOnce(CAP)).replies_applied, 200);
    assert.deepEqual(await backlogWindow(), { backlog_since_id: null, backlog_until_id: null }, 'read whole, the window is gone');
    assert.equal((await world.cli(['--json', 'account', 'list'])).json.accounts[0].mentions_backlog, null);
    assert.equal((await world.pollOnce(CAP)).replies_applied, 0, 'nothing is written twice');

    const logged = await world.sql<{ text: string }>("SELECT text FROM kbts_communications WHERE direction = 'in'");
    const texts = new Set(logged.map((row) => row.text.replace(/^(@\w+ )+/, '')));
    assert.equal(logged.length, total);
    assert.deepEqual(Array.from({ length: total }, (_, i) => `viral reply ${i}`).filter((text) => !texts.has(text)), [], 'no reply is skipped');
    for (const row of await world.sql('SELECT replies FROM articles')) assert.equal(String(row.replies).split('\n').length, total / 2);
    assert.deepEqual(await world.sql('SELECT from_at FROM kbts_unreadable_windows'), [], 'nothing was out of reach');
  });

  it('notes a backlog window that fell out of search\'s 7 days as unreadable, without a call for it', async () => {
    await world.sql(INSERT_ARTICLE, ['a', 'Left for too long', 'Yes']);
    await pollOnce();
    const now = (await world.emulatorNow()).toMillis();
    const [since, until] = [now - 9 * DAY_MS, now - 8 * DAY_MS].map((ms) => snowflakeAt(ms).toString());
    await world.sql('UPDATE kbts_accounts SET backlog_since_id = ?, backlog_until_id = ? WHERE id = ?', [since, until, accountId]);
    await world.control('DELETE', '/calls');

    const summary = await pollOnce();
    assert.deepEqual(summary.errors, []);
    assert.equal((await world.control('GET', '/calls')).by_endpoint['GET /2/tweets/search/recent'] ?? 0, 0, 'X would not serve it');
    assert.deepEqual(await backlogWindow(), { backlog_since_id: null, backlog_until_id: null });
    const [window] = await world.sql('SELECT from_at, to_at, reason FROM kbts_unreadable_windows WHERE account_id = ?', [accountId]);
    assert.equal(window.reason, 'mentions_beyond_reach');
    assert.equal(Date.parse(window.from_at), snowflakeTime(since), 'from where the window began');
  });
});
