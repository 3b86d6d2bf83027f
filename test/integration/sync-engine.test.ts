import assert from 'node:assert/strict';
import { captureTriggerExists } from '../../src/db/dialect';
import { removeIntegration, resumeIntegration } from '../../src/setup/integration-setup';
import type { DateTime } from 'luxon';
import { articlesTable, describeEachDatabase, TestEnv, type EmulatorUser } from '../support/test-env';
import { entryStamp, iso } from '../support/time';

const INSERT_ARTICLE = 'INSERT INTO articles (title, tweet_text, keep_going) VALUES (?, ?, ?)';

describeEachDatabase('sync engine against the X API emulator (real database, real client over HTTP)', (database) => {
  let world: TestEnv;
  let account: EmulatorUser;
  let accountId: number;

  beforeEach(async () => {
    world = await TestEnv.create(database);
    await world.sql(articlesTable(world));
    account = await world.createXUser('kb_news');
    accountId = await world.addAccount(account);
  });
  afterEach(async () => world.close());

  const addArticlesIntegration = (mode = 'append', extra: Record<string, string> = {}) => world.addArticlesIntegration(accountId, { mode, ...extra });
  const pollOnce = () => world.pollOnce();
  const resume = (integrationId: number) => world.asNewProcess((services) => resumeIntegration(services.integrationSetup, integrationId));
  const remove = (integrationId: number) => world.asNewProcess((services) => removeIntegration(services.integrationSetup, integrationId));
  /** Whole minutes before the emulator's now, so entry stamps are exact and inside X's windows. */
  const minutesAgo = async (minutes: number): Promise<DateTime> =>
    (await world.emulatorNow()).minus({ minutes }).startOf('minute');
  const record = async (id: number) => (await world.sql('SELECT * FROM articles WHERE id = ?', [id]))[0];
  const publication = async (integrationId: number, key: number) =>
    (await world.services()).publications.findByRecord(integrationId, String(key));

  it('tweets rows inserted with plain SQL by another process when continue is Yes or blank, and skips No with its reason', async () => {
    const integrationId = await addArticlesIntegration();
    await world.insertFromOtherProcess(INSERT_ARTICLE, [
      ['one', 'First article is out', 'Yes'],
      ['two', 'Second article is out', null],
      ['three', 'Third article stays home', 'No'],
    ]);
    const summary = await pollOnce();
    assert.equal(summary.published, 2);
    assert.equal(summary.skipped, 1);
    assert.equal(summary.failed, 0);
    const tweets = await world.tweetsBy('kb_news');
    assert.deepEqual(tweets.map((tweet) => tweet.text).sort(), ['First article is out', 'Second article is out']);
    const third = await publication(integrationId, 3);
    assert.equal(third?.state, 'skipped');
    assert.equal(third?.reason, 'not tweeted: the continue field is No');
    assert.equal((await publication(integrationId, 1))?.tweetId, tweets.find((t) => t.text === 'First article is out')?.id);
  });

  for (const mode of ['append', 'prepend', 'overwrite'] as const) {
    it(`writes three replies from other users in order with the exact entry format (${mode})`, async () => {
      await addArticlesIntegration(mode);
      await world.sql('INSERT INTO articles (title, tweet_text, replies, keep_going) VALUES (?, ?, ?, ?)', ['a', `Tell us (${mode})`, 'intro', 'yes']);
      await pollOnce();
      const [tweet] = await world.tweetsBy('kb_news');
      const first = await minutesAgo(180);
      const second = first.plus({ minutes: 5 });
      const last = first.plus({ minutes: 75, seconds: 59 }); // the stamp keeps the minute, seconds dropped
      const entries = {
        first: `${entryStamp(first)} @alice: first!`,
        second: `${entryStamp(second)} @bob: second`,
        last: `${entryStamp(last)} @carol: third and last`,
      };
      const expected = {
        append: ['intro', entries.first, entries.second, entries.last].join('\n'),
        prepend: [entries.last, entries.second, entries.first, 'intro'].join('\n'),
        overwrite: entries.last,
      }[mode];
      // Posted out of order on purpose: entries follow the replies' own time, not arrival.
      await world.replyAs('bob', tweet.id, 'second', { created_at: iso(second) });
      await world.replyAs('alice', tweet.id, 'first!', { created_at: iso(first) });
      await world.replyAs('carol', tweet.id, 'third and last', { created_at: iso(last) });
      const summary = await pollOnce();
      assert.equal(summary.replies_applied, 3);
      assert.equal((await record(1)).replies, expected);
      const again = await pollOnce();
      assert.equal(again.replies_applied, 0);
      assert.equal((await record(1)).replies, expected, 'a second poll writes nothing twice');
    });
  }

  it('logs replies without applying them while continue is No, and applies new ones once it is Yes again', async () => {
    const integrationId = await addArticlesIntegration('append');
    await world.sql(INSERT_ARTICLE, ['a', 'Talk to us', 'Yes']);
    await pollOnce();
    const [tweet] = await world.tweetsBy('kb_news');
    const beforeStop = await minutesAgo(120);
    const whileStopped = beforeStop.plus({ hours: 1 });
    const afterRestart = beforeStop.plus({ hours: 2 });
    await world.replyAs('alice', tweet.id, 'before the stop', { created_at: iso(beforeStop) });
    await pollOnce();
    await world.sql('UPDATE articles SET keep_going = ? WHERE id = 1', ['No']);
    await world.replyAs('bob', tweet.id, 'while stopped', { created_at: iso(whileStopped) });
    const stopped = await pollOnce();
    assert.equal(stopped.replies_applied, 0);
    assert.equal(stopped.replies_logged, 1);
    assert.equal((await record(1)).replies, `${entryStamp(beforeStop)} @alice: before the stop`);
    await world.sql('UPDATE articles SET keep_going = ? WHERE id = 1', [' yes ']);
    await world.replyAs('carol', tweet.id, 'after the restart', { created_at: iso(afterRestart) });
    const resumed = await pollOnce();
    assert.equal(resumed.replies_applied, 1);
    assert.equal((await record(1)).replies, `${entryStamp(beforeStop)} @alice: before the stop\n${entryStamp(afterRestart)} @carol: after the restart`);
    const log = await (await world.services()).communications.list({ integrationId, direction: 'in' });
    const bobs = log.find((entry) => entry.authorUsername === 'bob');
    assert.equal(bobs?.applied, false);
    assert.equal(bobs?.notAppliedReason, 'not written: continue field is No');
    assert.equal(bobs?.text.endsWith('while stopped'), true);
    assert.equal(log.filter((entry) => entry.applied).length, 2);
  });

  it('never tweets again after the tweet field is edited, nor rows that existed before the integration', async () => {
    await world.sql(INSERT_ARTICLE, ['old', 'Written before the integration', 'Yes']);
    await addArticlesIntegration();
    await world.sql(INSERT_ARTICLE, ['new', 'Original text', 'Yes']);
    assert.equal((await pollOnce()).published, 1);
    await world.sql('UPDATE articles SET tweet_text = ? WHERE id = 2', ['Edited text']);
    const after = await pollOnce();
    assert.equal(after.published, 0);
    assert.deepEqual((await world.tweetsBy('kb_news')).map((tweet) => tweet.text), ['Original text']);
  });

  it('changes no record for tweets made outside the KB, and never writes the account\'s own replies into a record', async () => {
    await addArticlesIntegration();
    await world.sql(INSERT_ARTICLE, ['a', 'From the KB', 'Yes']);
    await pollOnce();
    const [kbTweet] = await world.tweetsBy('kb_news');
    const outside = await world.control('POST', '/tweets', { as: 'kb_news', text: 'Posted from a phone' });
    await world.replyAs('alice', outside.id, 'reply to the phone post');
    await world.control('POST', '/tweets', { as: 'bob', text: 'hey @kb_news, unrelated' });
    await world.replyAs('kb_news', kbTweet.id, 'the account answering in its own thread');
    await world.replyAs('carol', kbTweet.id, 'a real reply');
    const summary = await pollOnce();
    assert.equal(summary.replies_applied, 1);
    assert.equal(summary.replies_logged, 0);
    assert.match((await record(1)).replies, /^\[\d{4}-\d\d-\d\d \d\d:\d\d UTC\] @carol: a real reply$/);
    const [rows] = await world.sql('SELECT COUNT(*) AS n FROM articles');
    assert.equal(Number(rows.n), 1, 'no record was created from X');
  });

  it('rejects an over-long text by default with its weighted count, and truncates or threads it when asked', async () => {
    const long = '日本語のテキスト'.repeat(18); // 144 CJK characters: 288 weighted
    const rejectId = await addArticlesIntegration('append');
    await world.sql(INSERT_ARTICLE, ['cjk', long, 'Yes']);
    const rejected = await pollOnce();
    assert.equal(rejected.failed, 1);
    assert.equal((await publication(rejectId, 1))?.reason,
      'the tweet text is 288 weighted characters; X allows 280 (long-text policy: reject; choose truncate or thread to post it)');
    assert.equal((await world.tweetsBy('kb_news')).length, 0);

    await remove(rejectId);
    const truncateId = await addArticlesIntegration('append', { 'long-text': 'truncate' });
    const emoji = '🎉 party '.repeat(40); // emoji weigh 2: 400 weighted
    await world.sql(INSERT_ARTICLE, ['emoji', emoji, 'Yes']);
    assert.equal((await pollOnce()).published, 1);
    const [truncated] = await world.tweetsBy('kb_news');
    assert.ok(truncated.text.endsWith('…'));
    assert.ok(emoji.startsWith(truncated.text.slice(0, -1).trimEnd()));

    await remove(truncateId);
    const threadId = await addArticlesIntegration('append', { 'long-text': 'thread' });
    const withUrls = `Read ${Array.from({ length: 14 }, (_, i) => `https://example.com/${i}`).join(' and ')} today`;
    await world.sql(INSERT_ARTICLE, ['urls', withUrls, 'Yes']);
    const threaded = await pollOnce();
    assert.equal(threaded.published, 1);
    const thread = (await world.tweetsBy('kb_news')).slice(1);
    assert.ok(thread.length >= 2);
    thread.forEach((part, index) => {
      assert.ok(part.text.endsWith(` (${index + 1}/${thread.length})`));
      if (index > 0) assert.equal(part.referenced_tweets?.[0].id, thread[index - 1].id);
      assert.equal(part.conversation_id, thread[0].id);
    });
    await world.replyAs('dave', thread[thread.length - 1].id, 'replying to the last part');
    assert.equal((await pollOnce()).replies_applied, 1);
    assert.match((await world.sql('SELECT replies FROM articles WHERE title = ?', ['urls']))[0].replies, /@dave: replying to the last part$/);
    assert.equal((await publication(threadId, 3))?.tweetId, thread[0].id);
  });

  it('tweets every eligible record exactly once through lost responses, 5xx, dropped connections and a 429', async () => {
    const integrationId = await addArticlesIntegration();
    const texts = Array.from({ length: 6 }, (_, i) => `Fault-tolerant article number ${i + 1}`);
    for (const text of texts) await world.sql(INSERT_ARTICLE, [text, text, 'Yes']);
    await world.control('POST', '/faults', { rules: [
      { endpoint: 'POST /2/tweets', kind: 'lost_response', count: 1 },
      { endpoint: 'POST /2/tweets', kind: 'status', status: 503, count: 1 },
      { endpoint: 'POST /2/tweets', kind: 'drop', count: 1 },
      { endpoint: 'POST /2/tweets', kind: 'rate_limit', resetInSeconds: 2, count: 1 },
      { endpoint: 'GET /2/users/:id/tweets', kind: 'status', status: 502, count: 1 },
    ] });
    for (let round = 0; round < 6; round++) {
      await pollOnce();
      const counts = await (await world.services()).publications.countByState(integrationId);
      if (counts.pending === 0 && counts.sending === 0) break;
    }
    const tweets = await world.tweetsBy('kb_news');
    assert.deepEqual(tweets.map((tweet) => tweet.text).sort(), [...texts].sort(), 'each text exactly once');
    const counts = await (await world.services()).publications.countByState(integrationId);
    assert.deepEqual(counts, { pending: 0, sending: 0, sent: 6, failed: 0, skipped: 0 });
    for (let extra = 0; extra < 2; extra++) {
      const summary = await pollOnce();
      assert.equal(summary.published, 0);
    }
    assert.equal((await world.tweetsBy('kb_news')).length, 6, 'two more polls changed nothing');
    const calls = (await world.control('GET', '/calls')).by_endpoint;
    // 6 posts, plus one retry each after the 503, the drop and the 429; the lost response is found, not re-posted.
    assert.equal(calls['POST /2/tweets'], 9);
    assert.ok(calls['GET /2/users/:id/tweets'] >= 3, 'each unknown outcome was reconciled before any retry');
  });

  it('lets two poll processes started together on one database tweet each record only once', async () => {
    await addArticlesIntegration();
    const texts = Array.from({ length: 30 }, (_, i) => `Concurrent article ${i + 1}`);
    await world.insertFromOtherProcess(INSERT_ARTICLE, texts.map((text) => [text, text, 'Yes']));
    const [first, second] = await Promise.all([world.cli(['--json', 'poll', '--once']), world.cli(['--json', 'poll', '--once'])]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(first.json.published + second.json.published, 30);
    const tweets = await world.tweetsBy('kb_news');
    assert.equal(tweets.length, 30);
    assert.equal(new Set(tweets.map((tweet) => tweet.text)).size, 30);
  });

  it('pauses the integration with a readable reason when the tokens are revoked, loses nothing, and catches up after resume', async () => {
    const integrationId = await addArticlesIntegration();
    await world.sql(INSERT_ARTICLE, ['before', 'Posted before the revocation', 'Yes']);
    await pollOnce();
    const [tweet] = await world.tweetsBy('kb_news');
    await world.control('POST', '/users/kb_news/revoke');
    await world.sql(INSERT_ARTICLE, ['during', 'Written while revoked', 'Yes']);
    const duringOutage = await minutesAgo(30);
    await world.replyAs('alice', tweet.id, 'reply during the outage', { created_at: iso(duringOutage) });
    const refused = await pollOnce();
    assert.equal(refused.published, 0);
    assert.match(refused.errors.join(' '), /X refused the account's credentials \(401/);
    const paused = await (await world.services()).integrations.get(integrationId);
    assert.equal(paused?.status, 'paused');
    assert.match(paused?.pausedReason ?? '', /tokens may have been revoked/);
    assert.equal((await publication(integrationId, 2))?.state, 'pending', 'the record waits, nothing lost');
    assert.equal((await pollOnce()).published, 0, 'a paused integration is left alone');

    await world.control('POST', '/users/kb_news/restore');
    assert.equal((await world.cli(['account', 'test', String(accountId)])).code, 0);
    await resume(integrationId);
    const caughtUp = await pollOnce();
    assert.equal(caughtUp.published, 1);
    assert.equal(caughtUp.replies_applied, 1);
    assert.equal((await record(1)).replies, `${entryStamp(duringOutage)} @alice: reply during the outage`);
    assert.deepEqual((await world.tweetsBy('kb_news')).map((t) => t.text), ['Posted before the revocation', 'Written while revoked']);
  });

  it('stops capturing rows once the integration is removed', async () => {
    const integrationId = await addArticlesIntegration();
    await world.sql(INSERT_ARTICLE, ['a', 'captured', 'Yes']);
    assert.equal((await world.cli(['integration', 'remove', String(integrationId)])).code, 0);
    await world.sql(INSERT_ARTICLE, ['b', 'not captured', 'Yes']);
    const [rows] = await world.sql('SELECT COUNT(*) AS n FROM kbts_publications');
    assert.equal(Number(rows.n), 0);
    assert.equal(await captureTriggerExists((await world.services()).db, integrationId), false);
  });

  it('finds sub-thread replies that drop the account\'s mention with one recent search, and only where a sub-thread exists', async () => {
    await addArticlesIntegration();
    await world.sql(INSERT_ARTICLE, ['a', 'Start a discussion', 'Yes']);
    await world.sql(INSERT_ARTICLE, ['b', 'A quiet one', 'Yes']);
    await pollOnce();
    const [tweet, quiet] = await world.tweetsBy('kb_news');
    const asked = await minutesAgo(60);
    const alice = await world.replyAs('alice', tweet.id, 'what do you think?', { created_at: iso(asked) });
    await world.replyAs('frank', quiet.id, 'direct reply only', { created_at: iso(asked.plus({ seconds: 30 })) });
    await world.control('DELETE', '/calls');
    assert.equal((await pollOnce()).replies_applied, 2);
    assert.equal((await world.control('GET', '/calls')).by_endpoint['GET /2/tweets/search/recent'] ?? 0, 0, 'direct replies need no search');

    // Carol answers alice and, as X clients do by default, keeps @kb_news; bob drops it.
    const carol = await world.replyAs('carol', alice.id, 'good question', { created_at: iso(asked.plus({ minutes: 1 })) });
    await world.replyAs('bob', carol.id, 'I agree with carol', { created_at: iso(asked.plus({ minutes: 2 })), mention: false });
    await world.control('DELETE', '/calls');
    const summary = await pollOnce();
    assert.equal(summary.replies_applied, 2);
    const calls = (await world.control('GET', '/calls')).by_endpoint;
    assert.equal(calls['GET /2/users/:id/mentions'], 1);
    assert.equal(calls['GET /2/tweets/search/recent'], 1);
    assert.equal((await record(1)).replies, [
      `${entryStamp(asked)} @alice: what do you think?`,
      `${entryStamp(asked.plus({ minutes: 1 }))} @carol: good question`,
      `${entryStamp(asked.plus({ minutes: 2 }))} @bob: I agree with carol`,
    ].join('\n'));

    // The discussion stays searched while it is live, even when its next reply mentions nobody.
    await world.replyAs('dave', carol.id, 'late to the party', { created_at: iso(asked.plus({ minutes: 3 })), mention: false });
    assert.equal((await pollOnce()).replies_applied, 1);
    assert.match((await record(1)).replies, /@dave: late to the party$/);
  });

  it('keeps a reply that would overflow a length-limited response field in the log instead of cutting it', async () => {
    await world.sql(`CREATE TABLE notes (id ${world.autoId}, tweet_text TEXT, replies VARCHAR(60), keep_going TEXT)`);
    const integrationId = await world.addArticlesIntegration(accountId, { table: 'notes' });
    await world.sql('INSERT INTO notes (tweet_text, keep_going) VALUES (?, ?)', ['A short note', 'Yes']);
    await pollOnce();
    const [tweet] = await world.tweetsBy('kb_news');
    const fits = await minutesAgo(10);
    await world.replyAs('alice', tweet.id, 'fits', { created_at: iso(fits) });
    await world.replyAs('bob', tweet.id, 'this one is far too long to fit', { created_at: iso(fits.plus({ minutes: 1 })) });
    const summary = await pollOnce();
    assert.equal(summary.replies_applied, 1);
    assert.equal(summary.replies_logged, 1);
    assert.equal((await world.sql('SELECT replies FROM notes'))[0].replies, `${entryStamp(fits)} @alice: fits`);
    const [kept] = await (await world.services()).communications.list({ integrationId, applied: false });
    assert.equal(kept.notAppliedReason, "not written: the response field 'replies' holds at most 60 characters and this reply does not fit");
    assert.match(kept.text, /this one is far too long to fit$/);
  });

  it('pauses with the access-level reason when X refuses to let the account post or read', async () => {
    const integrationId = await addArticlesIntegration();
    await world.control('POST', '/users/kb_news/access', { level: 'read-only' });
    await world.sql(INSERT_ARTICLE, ['a', 'Cannot be posted yet', 'Yes']);
    const refused = await pollOnce();
    assert.equal(refused.published, 0);
    let integration = await (await world.services()).integrations.get(integrationId);
    assert.equal(integration?.status, 'paused');
    assert.match(integration?.pausedReason ?? '', /the X app's permissions do not allow posting; set it to Read and Write and regenerate the tokens/);
    assert.equal((await publication(integrationId, 1))?.state, 'pending');

    await world.control('POST', '/users/kb_news/access', { level: 'no-read' });
    await resume(integrationId);
    const published = await pollOnce();
    assert.equal(published.published, 1, 'posting works again');
    integration = await (await world.services()).integrations.get(integrationId);
    assert.equal(integration?.status, 'paused', 'but reading replies is refused');
    assert.match(integration?.pausedReason ?? '', /your X access level does not allow this \(403/);
  });

  it('leaves records pending until a far-away rate-limit reset instead of waiting or retrying', async () => {
    const integrationId = await addArticlesIntegration();
    await world.sql(INSERT_ARTICLE, ['a', 'Rate limited', 'Yes']);
    await world.control('POST', '/faults', { rules: [{ endpoint: 'POST /2/tweets', kind: 'rate_limit', resetInSeconds: 900, count: 1 }] });
    const limited = await world.pollOnce({ KBTS_MAX_RATE_LIMIT_WAIT_MS: '0' });
    assert.equal(limited.published, 0);
    const waiting = await publication(integrationId, 1);
    assert.equal(waiting?.state, 'pending');
    assert.equal(waiting?.reason, 'waiting for the X rate limit to reset');
    assert.ok(Date.parse(waiting?.nextAttemptAt ?? '') > (await world.emulatorNow()).toMillis() + 800_000, 'the reset X gave, 15 minutes ahead of its clock');
    await world.control('DELETE', '/calls');
    await world.pollOnce({ KBTS_MAX_RATE_LIMIT_WAIT_MS: '0' });
    const calls = (await world.control('GET', '/calls')).by_endpoint;
    assert.equal(calls['POST /2/tweets'] ?? 0, 0, 'no post is tried before the reset');
  });

  it('re-reads an overlap behind the cursor so a reply that X shows late is still written once', async () => {
    await addArticlesIntegration();
    await world.sql(INSERT_ARTICLE, ['a', 'Late replies welcome', 'Yes']);
    await pollOnce();
    const [tweet] = await world.tweetsBy('kb_news');
    const slow = await minutesAgo(10);
    const late = await world.replyAs('alice', tweet.id, 'I was slow to show up', { created_at: iso(slow), hidden: true });
    await world.replyAs('bob', tweet.id, 'I was visible at once', { created_at: iso(slow.plus({ minutes: 1 })) });
    assert.equal((await pollOnce()).replies_applied, 1, 'only the visible reply, and the cursor moves past the hidden one');
    await world.control('POST', `/tweets/${late.id}/reveal`);
    assert.equal((await pollOnce()).replies_applied, 1, 'the late reply is found behind the cursor');
    assert.equal((await pollOnce()).replies_applied, 0);
    assert.equal((await record(1)).replies, `${entryStamp(slow.plus({ minutes: 1 }))} @bob: I was visible at once\n${entryStamp(slow)} @alice: I was slow to show up`);
  });

  it('fails the second of two records with the same text instead of claiming the first one\'s tweet', async () => {
    const integrationId = await addArticlesIntegration();
    await world.sql(INSERT_ARTICLE, ['a', 'Same words', 'Yes']);
    await world.sql(INSERT_ARTICLE, ['b', 'Same words', 'Yes']);
    const summary = await pollOnce();
    assert.equal(summary.published, 1);
    assert.equal(summary.failed, 1);
    const second = await publication(integrationId, 2);
    assert.equal(second?.state, 'failed');
    assert.match(second?.reason ?? '', /X refused the text as a duplicate of an earlier post by the account/);
    assert.equal(second?.tweetId, null);
  });

  it('keeps serving the account\'s other integrations when one table is dropped', async () => {
    const broken = await addArticlesIntegration();
    await world.sql(`CREATE TABLE notes (id ${world.autoId}, tweet_text TEXT, replies TEXT, keep_going TEXT)`);
    const healthy = await world.addArticlesIntegration(accountId, { table: 'notes' });
    await world.sql(INSERT_ARTICLE, ['a', 'About to vanish', 'Yes']);
    await world.sql('DROP TABLE articles');
    await world.sql('INSERT INTO notes (tweet_text, keep_going) VALUES (?, ?)', ['Still here', 'Yes']);
    const summary = await pollOnce();
    assert.equal(summary.published, 1);
    assert.match(summary.errors.join(' '), new RegExp(`integration ${broken}: cannot read records of table 'articles'`));
    const services = await world.services();
    assert.match((await services.integrations.get(broken))?.lastError ?? '', /no such table: articles|relation "articles" does not exist/);
    assert.equal((await services.integrations.get(healthy))?.lastError, null);
    assert.deepEqual((await world.tweetsBy('kb_news')).map((tweet) => tweet.text), ['Still here']);
  });
});
