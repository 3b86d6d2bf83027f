import assert from 'node:assert/strict';
import type { DateTime } from 'luxon';
import { weightedLength } from '../../src/twitter/weighted-length';
import { createArticlesWorld, describeEachDatabase, type TestEnv } from '../support/test-env';
import { entryStamp, iso } from '../support/time';

const INSERT_ARTICLE = 'INSERT INTO articles (title, tweet_text, keep_going) VALUES (?, ?, ?)';
// 300 weighted characters: too long for one tweet.
const LONG_TEXT = Array.from({ length: 30 }, (_, i) => `word${String(i).padStart(4, '0')} `).join('').trim().padEnd(300, '!');

describeEachDatabase('retrying failed and skipped records (command line)', (database) => {
  let world: TestEnv;
  let integrationId: number;

  beforeEach(async () => {
    ({ world, integrationId } = await createArticlesWorld(database));
  });
  afterEach(async () => world.close());

  const publication = async (key: number) => (await world.services()).publications.findByRecord(integrationId, String(key));
  const retry = (...args: string[]) => world.cli(['--json', 'integration', 'retry', String(integrationId), ...args]);

  it('tweets a record that failed under reject, once and truncated, after the policy is switched to truncate and it is retried', async () => {
    assert.equal(weightedLength(LONG_TEXT), 300);
    await world.sql(INSERT_ARTICLE, ['long', LONG_TEXT, 'Yes']);
    assert.equal((await world.pollOnce()).failed, 1);
    assert.equal((await publication(1))?.state, 'failed');

    const updated = await world.cli(['integration', 'update', String(integrationId), '--long-text', 'truncate']);
    assert.equal(updated.code, 0, updated.stderr);
    assert.equal((await world.pollOnce()).published, 0, 'a new policy alone does not reopen a failed record');

    const retried = await retry();
    assert.equal(retried.code, 0, retried.stderr);
    assert.deepEqual(retried.json, { id: integrationId, retried: ['1'] });
    const pending = await publication(1);
    assert.equal(pending?.state, 'pending');
    assert.equal(pending?.reason, null, 'the old reason is cleared');

    assert.equal((await world.pollOnce()).published, 1);
    const tweets = await world.tweetsBy('kb_news');
    assert.equal(tweets.length, 1);
    assert.ok(tweets[0].text.endsWith('…'), tweets[0].text);
    assert.ok(weightedLength(tweets[0].text) <= 280);
    assert.equal((await publication(1))?.tweetId, tweets[0].id);
  });

  it('tweets a record skipped for \'maybe\' once its continue field says Yes and it is retried', async () => {
    await world.sql(INSERT_ARTICLE, ['unsure', 'Maybe later', 'maybe']);
    assert.equal((await world.pollOnce()).skipped, 1);
    await world.sql('UPDATE articles SET keep_going = ? WHERE id = 1', ['Yes']);
    assert.equal((await world.pollOnce()).published, 0, 'an edit alone does not reopen a skipped record');

    const retried = await retry('--record', '1');
    assert.equal(retried.code, 0, retried.stderr);
    assert.deepEqual(retried.json.retried, ['1']);
    assert.equal((await world.pollOnce()).published, 1);
    assert.deepEqual((await world.tweetsBy('kb_news')).map((tweet) => tweet.text), ['Maybe later']);
  });

  it('re-evaluates a retried record: still No, it is skipped again with the reason', async () => {
    await world.sql(INSERT_ARTICLE, ['stay', 'Not for X', 'No']);
    await world.pollOnce();
    assert.equal((await retry()).code, 0);
    assert.equal((await world.pollOnce()).skipped, 1);
    assert.equal((await publication(1))?.reason, 'not tweeted: the continue field is No');
    assert.equal((await world.tweetsBy('kb_news')).length, 0);
  });

  it('leaves a sent record alone and says so, with a non-zero exit', async () => {
    await world.sql(INSERT_ARTICLE, ['out', 'Already out', 'Yes']);
    await world.pollOnce();
    const sent = await publication(1);
    assert.equal(sent?.state, 'sent');

    const one = await world.cli(['integration', 'retry', String(integrationId), '--record', '1']);
    assert.equal(one.code, 1);
    assert.match(one.stderr, new RegExp(`error: record '1' was already tweeted \\(tweet ${sent?.tweetId}\\): a record is tweeted at most once, so it is not retried`));
    const all = await retry();
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(all.json.retried, []);
    assert.equal((await world.pollOnce()).published, 0);
    assert.equal((await world.tweetsBy('kb_news')).length, 1);
    assert.deepEqual(await publication(1), sent, 'not one column changed');
  });

  it('never reopens a sent record even when asked directly: the store\'s update is conditional', async () => {
    await world.sql(INSERT_ARTICLE, ['out', 'Out once', 'Yes']);
    await world.pollOnce();
    const services = await world.services();
    assert.deepEqual(await services.publications.retry(integrationId, '1', new Date().toISOString()), []);
    assert.equal((await publication(1))?.state, 'sent');
  });

  it('refuses an unknown integration or record in words, with a non-zero exit', async () => {
    const integration = await world.cli(['integration', 'retry', '99']);
    assert.equal(integration.code, 1);
    assert.match(integration.stderr, /error: integration 99 does not exist/);
    const record = await world.cli(['integration', 'retry', String(integrationId), '--record', '42']);
    assert.equal(record.code, 1);
    assert.match(record.stderr, /error: integration \d+ has no record '42' to retry/);
    const nothing = await world.cli(['integration', 'retry', String(integrationId)]);
    assert.equal(nothing.code, 0, nothing.stderr);
    assert.match(nothing.stdout, /no failed or skipped records to retry/);
  });
});

describeEachDatabase('replies that came in while an integration was paused', (database) => {
  let world: TestEnv;
  let accountId: number;
  let integrationId: number;

  beforeEach(async () => {
    ({ world, accountId, integrationId } = await createArticlesWorld(database));
  });
  afterEach(async () => world.close());

  const minutesAgo = async (minutes: number): Promise<DateTime> => (await world.emulatorNow()).minus({ minutes }).startOf('minute');
  const replies = async (id: number) => (await world.sql('SELECT replies FROM articles WHERE id = ?', [id]))[0].replies;
  const run = async (verb: 'pause' | 'resume') => {
    const result = await world.cli(['integration', verb, String(integrationId)]);
    assert.equal(result.code, 0, result.stderr);
  };
  const logOf = async (username: string) => (await (await world.services()).communications.list({ integrationId, direction: 'in' }))
    .find((entry) => entry.authorUsername === username);

  it('are written into their records at the resume, in time order, once each; a record whose continue field says No stays as it is', async () => {
    // A second integration on the same account keeps the account polled while the first is paused.
    await world.sql(`CREATE TABLE notes (id ${world.autoId}, tweet_text TEXT, replies TEXT, keep_going TEXT)`);
    await world.addIntegration({ account: String(accountId), table: 'notes', 'tweet-field': 'tweet_text', 'response-field': 'replies', mode: 'append', 'continue-field': 'keep_going' });
    await world.sql(INSERT_ARTICLE, ['one', 'First', 'Yes']);
    await world.sql(INSERT_ARTICLE, ['two', 'Second', 'Yes']);
    await world.pollOnce();
    const tweets = await world.tweetsBy('kb_news');
    const first = tweets.find((tweet) => tweet.text === 'First')!;
    const second = tweets.find((tweet) => tweet.text === 'Second')!;

    await run('pause');
    const early = await minutesAgo(90);
    const late = early.plus({ minutes: 30 });
    // Posted out of time order: the later one first.
    await world.replyAs('carol', first.id, 'later while paused', { created_at: iso(late) });
    await world.replyAs('alice', first.id, 'earlier while paused', { created_at: iso(early) });
    await world.replyAs('bob', second.id, 'to a record that turns No', { created_at: iso(early) });
    await world.sql('UPDATE articles SET keep_going = ? WHERE id = 2', ['No']);
    const whilePaused = await world.pollOnce();
    assert.equal(whilePaused.replies_logged, 3, 'read and logged, not applied');
    assert.equal(whilePaused.replies_applied, 0);
    assert.equal(await replies(1), null);

    await run('resume');
    const expected = `${entryStamp(early)} @alice: earlier while paused\n${entryStamp(late)} @carol: later while paused`;
    assert.equal(await replies(1), expected);
    assert.equal(await replies(2), null, 'continue field No: nothing written');
    assert.equal((await logOf('alice'))?.applied, true);
    assert.equal((await logOf('alice'))?.notAppliedReason, null);
    assert.equal((await logOf('bob'))?.applied, false);
    assert.equal((await logOf('bob'))?.notAppliedReason, 'not written: continue field is No');

    // Once each: another poll, another pause and resume write nothing again.
    assert.equal((await world.pollOnce()).replies_applied, 0);
    await run('pause');
    await run('resume');
    assert.equal(await replies(1), expected);

    // Rule 3: a reply refused because the field said No is never written later, not even at a resume.
    await world.replyAs('dave', second.id, 'while the record says No', { created_at: iso(late) });
    assert.equal((await world.pollOnce()).replies_logged, 1);
    await world.sql('UPDATE articles SET keep_going = ? WHERE id = 2', ['Yes']);
    await run('pause');
    await run('resume');
    assert.equal(await replies(2), null);
    assert.equal((await logOf('dave'))?.applied, false);
  });

  it('are read only after the resume when the account has no other active integration (the cursor waited)', async () => {
    await world.sql(INSERT_ARTICLE, ['one', 'Only', 'Yes']);
    await world.pollOnce();
    const [tweet] = await world.tweetsBy('kb_news');
    await run('pause');
    const at = await minutesAgo(30);
    await world.replyAs('alice', tweet.id, 'while paused', { created_at: iso(at) });
    const whilePaused = await world.pollOnce();
    assert.equal(whilePaused.replies_logged + whilePaused.replies_applied, 0, 'a paused account is not read');
    await run('resume');
    assert.equal((await world.pollOnce()).replies_applied, 1);
    assert.equal(await replies(1), `${entryStamp(at)} @alice: while paused`);
  });
});
