import assert from 'node:assert/strict';
import { addIntegration } from '../../src/setup/integration-setup';
import { runPollCycle } from '../../src/sync/poll-cycle';
import type { Services } from '../../src/app';
import { TestEnv, type EmulatorUser } from '../support/test-env';
import { entryStamp, iso } from '../support/time';

// The bad-input corpus: each case with the outcome a person should see. It runs on SQLite, the
// only database that stores every case as given (PostgreSQL refuses NUL bytes and broken UTF-16
// in text columns before kb-twitter-sync could see them).

type Expected = { state: 'sent' | 'skipped' | 'failed'; reason?: RegExp; tweeted?: string };

const url11 = Array.from({ length: 11 }, (_, i) => `https://example.com/article/${i}`).join(' '); // 11 × 23 + 10 = 263
const TEXT_CASES: Array<[string, string | null, Expected]> = [
  ['empty text', '', { state: 'failed', reason: /^the tweet field is empty$/ }],
  ['whitespace-only text', ' \t\n ', { state: 'failed', reason: /^the tweet field is empty \(only spaces\)$/ }],
  ['NULL text', null, { state: 'failed', reason: /^the tweet field is empty$/ }],
  ['exactly 280 Latin characters', 'a'.repeat(280), { state: 'sent' }],
  ['281 Latin characters', 'b'.repeat(281), { state: 'failed', reason: /is 281 weighted characters; X allows 280/ }],
  ['exactly 280 weighted in CJK (140 characters)', '中'.repeat(140), { state: 'sent' }],
  ['281+ weighted in CJK (141 characters)', '文'.repeat(141), { state: 'failed', reason: /is 282 weighted characters/ }],
  ['exactly 280 weighted in emoji with skin-tone modifiers', '👍🏽'.repeat(140), { state: 'sent' }],
  ['over 280 in emoji with modifiers', '👋🏿'.repeat(141), { state: 'failed', reason: /is 282 weighted characters/ }],
  ['exactly 280 weighted in ZWJ family emoji', '👩‍👩‍👧‍👦'.repeat(140), { state: 'sent' }],
  ['over 280 in ZWJ sequences', '👨‍👩‍👧'.repeat(141), { state: 'failed', reason: /is 282 weighted characters/ }],
  ['URLs adding up to exactly 280', `${url11} ${'u'.repeat(16)}`, { state: 'sent' }],
  ['URLs adding up to 281', `${url11} ${'v'.repeat(17)}`, { state: 'failed', reason: /is 281 weighted characters/ }],
  // SQLite stores a lone surrogate as invalid UTF-8, which comes back as U+FFFD.
  ['a lone surrogate (invalid UTF-16)', 'broken \uD83D text', { state: 'failed', reason: /not valid Unicode: character 8 could not be decoded/ }],
  ['a NUL byte', 'nul\u0000inside', { state: 'failed', reason: /contains a NUL character \(U\+0000\) at character 4/ }],
  ['HTML and SQL in the text', `<b>bold</b>'); DROP TABLE texts; --`, { state: 'sent', tweeted: `<b>bold</b>'); DROP TABLE texts; --` }],
];

const YES_NO_CASES: Array<[string | null, Expected]> = [
  ['YES', { state: 'sent' }],
  [' no ', { state: 'skipped', reason: /^not tweeted: the continue field is No$/ }],
  ['1', { state: 'sent' }],
  ['0', { state: 'skipped', reason: /continue field is No/ }],
  ['maybe', { state: 'skipped', reason: /^not tweeted: the continue field holds 'maybe', which is neither Yes nor No$/ }],
  [null, { state: 'sent' }],
  ['', { state: 'sent' }],
];

describe('bad-input corpus [sqlite]', function () {
  this.timeout(180_000);
  let world: TestEnv;
  let services: Services;
  let account: EmulatorUser;
  let accountId: number;

  const integrate = async (table: string, fields: { tweet?: string; response?: string; cont?: string } = {}) => (await addIntegration(services.integrationSetup, {
    accountId, table, tweetField: fields.tweet ?? 'tweet_text', responseField: fields.response ?? 'replies',
    responseMode: 'append', continueField: fields.cont ?? 'keep_going', schedule: '* * * * * *',
  })).integration.id;
  const cycle = async () => {
    const counts = await runPollCycle(services.sync);
    return counts;
  };
  const publication = (integrationId: number, key: string | number) => services.publications.findByRecord(integrationId, String(key));
  const expectOutcome = async (label: string, integrationId: number, key: string | number, expected: Expected) => {
    const found = await publication(integrationId, key);
    assert.equal(found?.state, expected.state, `${label}: state (reason: ${found?.reason})`);
    if (expected.reason) assert.match(found?.reason ?? '', expected.reason, label);
    if (expected.tweeted) {
      const tweets = await world.tweetsBy('kb_bad');
      assert.equal(tweets.find((tweet) => tweet.id === found?.tweetId)?.text, expected.tweeted, label);
    }
  };

  before(async () => {
    world = await TestEnv.create('sqlite');
    services = await world.services();
    account = await world.createXUser('kb_bad');
    accountId = await world.addAccount(account);
  });
  after(async () => world.close());

  it('gives each text case its state and a reason a person understands', async () => {
    await world.sql('CREATE TABLE texts (id INTEGER PRIMARY KEY, tweet_text TEXT, replies TEXT, keep_going TEXT)');
    const integrationId = await integrate('texts');
    for (const [, text] of TEXT_CASES) await world.sql('INSERT INTO texts (tweet_text, keep_going) VALUES (?, ?)', [text, 'Yes']);
    await cycle();
    for (const [index, [label, , expected]] of TEXT_CASES.entries()) await expectOutcome(label, integrationId, index + 1, expected);
  });

  it('reads each Yes/No value as DESIGN.md rule 9 says', async () => {
    await world.sql('CREATE TABLE flags (id INTEGER PRIMARY KEY, tweet_text TEXT, replies TEXT, keep_going TEXT)');
    const integrationId = await integrate('flags');
    for (const [index, [value]] of YES_NO_CASES.entries()) {
      await world.sql('INSERT INTO flags (tweet_text, keep_going) VALUES (?, ?)', [`Flag case ${index}`, value]);
    }
    await cycle();
    for (const [index, [value, expected]] of YES_NO_CASES.entries()) await expectOutcome(`continue ${JSON.stringify(value)}`, integrationId, index + 1, expected);
  });

  it('skips a record deleted before it is published', async () => {
    await world.sql('CREATE TABLE fleeting (id INTEGER PRIMARY KEY, tweet_text TEXT, replies TEXT, keep_going TEXT)');
    const integrationId = await integrate('fleeting');
    // Inserted and deleted in one transaction: the trigger saw the insert, the row is gone at commit.
    await world.sql("INSERT INTO fleeting (tweet_text, keep_going) VALUES ('gone', 'Yes')");
    await world.sql('DELETE FROM fleeting');
    await cycle();
    await expectOutcome('deleted record', integrationId, 1, { state: 'skipped', reason: /^the record was deleted before it was tweeted$/ });
  });

  for (const [change, sql] of [
    ['dropped', 'ALTER TABLE {table} DROP COLUMN tweet_text'],
    ['renamed', 'ALTER TABLE {table} RENAME COLUMN tweet_text TO body'],
  ] as const) {
    it(`fails with the reason when the tweet field was ${change} after the integration was made`, async () => {
      const table = `tweet_field_${change}`;
      await world.sql(`CREATE TABLE ${table} (id INTEGER PRIMARY KEY, tweet_text TEXT, replies TEXT, keep_going TEXT)`);
      const integrationId = await integrate(table);
      await world.sql(`INSERT INTO ${table} (tweet_text, keep_going) VALUES ('text ${change}', 'Yes')`);
      await world.sql(sql.replace('{table}', table));
      await cycle();
      await expectOutcome(`tweet field ${change}`, integrationId, 1, {
        state: 'failed', reason: new RegExp(`^the tweet field 'tweet_text' no longer exists in table '${table}'; edit the integration$`),
      });
    });

    it(`keeps replies in the log when the response field was ${change}`, async () => {
      const table = `response_field_${change}`;
      await world.sql(`CREATE TABLE ${table} (id INTEGER PRIMARY KEY, tweet_text TEXT, replies TEXT, keep_going TEXT)`);
      const integrationId = await integrate(table);
      await world.sql(`INSERT INTO ${table} (tweet_text, keep_going) VALUES ('respond ${change}', 'Yes')`);
      await cycle();
      await world.sql(sql.replace('{table}', table).replace(/tweet_text/g, 'replies').replace(' body', ' answers'));
      const tweetId = (await publication(integrationId, 1))!.tweetId!;
      await world.replyAs('alice', tweetId, `reply after the field was ${change}`);
      await cycle();
      const [entry] = await services.communications.list({ integrationId, direction: 'in' });
      assert.equal(entry.applied, false);
      assert.equal(entry.notAppliedReason, `not written: the response field 'replies' no longer exists in table '${table}'`);
    });
  }

  it('records the error of an integration whose table was dropped and keeps serving the others', async () => {
    await world.sql('CREATE TABLE doomed (id INTEGER PRIMARY KEY, tweet_text TEXT, replies TEXT, keep_going TEXT)');
    await world.sql('CREATE TABLE healthy (id INTEGER PRIMARY KEY, tweet_text TEXT, replies TEXT, keep_going TEXT)');
    const doomed = await integrate('doomed');
    const healthy = await integrate('healthy');
    await world.sql("INSERT INTO doomed (tweet_text, keep_going) VALUES ('never sent', 'Yes')");
    await world.sql('DROP TABLE doomed');
    await world.sql("INSERT INTO healthy (tweet_text, keep_going) VALUES ('healthy one', 'Yes')");
    const counts = await cycle();
    assert.match(counts.errors.join('\n'), new RegExp(`integration ${doomed}: cannot read records of table 'doomed': .*no such table: doomed`));
    await expectOutcome('healthy neighbour', healthy, 1, { state: 'sent' });
    assert.equal((await publication(doomed, 1))?.state, 'pending', 'nothing lost: the record waits');
  });

  it('appends to a response field that holds a number', async () => {
    await world.sql('CREATE TABLE numbered (id INTEGER PRIMARY KEY, tweet_text TEXT, replies TEXT, keep_going TEXT)');
    const integrationId = await integrate('numbered');
    await world.sql("INSERT INTO numbered (tweet_text, replies, keep_going) VALUES ('numbers', 42, 'Yes')");
    await cycle();
    const answered = (await world.emulatorNow()).minus({ minutes: 5 });
    await world.replyAs('bob', (await publication(integrationId, 1))!.tweetId!, 'after the number', { created_at: iso(answered) });
    await cycle();
    assert.equal((await world.sql('SELECT replies FROM numbered'))[0].replies, `42\n${entryStamp(answered)} @bob: after the number`);
  });

  it('works with a non-text (uuid) primary key, a 25,000-character reply, and a reply holding HTML and SQL', async () => {
    await world.sql('CREATE TABLE uuids (id TEXT PRIMARY KEY, tweet_text TEXT, replies TEXT, keep_going TEXT)');
    const integrationId = await integrate('uuids');
    const key = '3f2b8c1e-9a4d-4c6b-8e2f-1a2b3c4d5e6f';
    await world.sql("INSERT INTO uuids (id, tweet_text, keep_going) VALUES (?, 'uuid keyed', 'Yes')", [key]);
    await cycle();
    const tweetId = (await publication(integrationId, key))!.tweetId!;
    const long = 'long reply '.repeat(2_273).slice(0, 24_990); // X's long-post limit is 25,000 with the @mention
    const hostile = `<script>alert(1)</script>'); DELETE FROM uuids; --`;
    const answered = (await world.emulatorNow()).minus({ minutes: 5 });
    await world.replyAs('carol', tweetId, long, { long_post: true, created_at: iso(answered) });
    await world.replyAs('dave', tweetId, hostile, { created_at: iso(answered.plus({ minutes: 1 })) });
    await cycle();
    const [row] = await world.sql('SELECT replies FROM uuids WHERE id = ?', [key]);
    assert.ok(row.replies.startsWith(`${entryStamp(answered)} @carol: ${long}\n`), 'the whole 25,000-character reply is kept');
    assert.ok(row.replies.endsWith(`@dave: ${hostile}`), 'HTML and SQL are written as text');
    assert.equal((await world.sql('SELECT COUNT(*) AS n FROM uuids'))[0].n, 1, 'and executed nowhere');
  });

  it('handles table and column names with spaces, quotes and non-ASCII letters', async () => {
    await world.sql('CREATE TABLE "Kunden ""Notizen"" Ü" ("Schlüssel" INTEGER PRIMARY KEY, "Tweet Text" TEXT, "Antworten ""alle""" TEXT, "weiter?" TEXT)');
    const integrationId = await integrate('Kunden "Notizen" Ü', { tweet: 'Tweet Text', response: 'Antworten "alle"', cont: 'weiter?' });
    // Literal values: a "?" inside a quoted name must not be taken for a placeholder.
    await world.sql(`INSERT INTO "Kunden ""Notizen"" Ü" ("Tweet Text", "weiter?") VALUES ('Grüße aus der Wissensdatenbank', 'ja?')`);
    await world.sql(`INSERT INTO "Kunden ""Notizen"" Ü" ("Tweet Text", "weiter?") VALUES ('Zweite Notiz', 'on')`);
    await cycle();
    await expectOutcome('non-Yes/No German value', integrationId, 1, { state: 'skipped', reason: /holds 'ja\?'/ });
    await expectOutcome('quoted names', integrationId, 2, { state: 'sent' });
    const answered = (await world.emulatorNow()).minus({ minutes: 5 });
    await world.replyAs('erika', (await publication(integrationId, 2))!.tweetId!, 'Danke!', { created_at: iso(answered) });
    await cycle();
    assert.equal((await world.sql('SELECT "Antworten ""alle""" AS a FROM "Kunden ""Notizen"" Ü" WHERE "Schlüssel" = 2'))[0].a, `${entryStamp(answered)} @erika: Danke!`);
  });
});

describe('a database that refuses writes [sqlite]', function () {
  this.timeout(180_000);
  let world: TestEnv;
  let integrationId: number;

  beforeEach(async () => {
    world = await TestEnv.create('sqlite');
    const accountId = await world.addAccount(await world.createXUser('kb_disk'));
    await world.sql('CREATE TABLE notes (id INTEGER PRIMARY KEY, tweet_text TEXT, replies TEXT, keep_going TEXT)');
    integrationId = await world.addArticlesIntegration(accountId, { table: 'notes', every: '* * * * * *' });
  });
  afterEach(async () => world.close());

  const expectEachTweetedOnce = async (texts: string[]) => {
    const tweeted = (await world.tweetsBy('kb_disk')).map((tweet) => tweet.text).sort();
    assert.deepEqual(tweeted, [...texts].sort());
    const [check] = await world.sql('PRAGMA integrity_check');
    assert.equal(check.integrity_check, 'ok');
  };

  it('keeps the daemon alive through SQLITE_FULL (a size-limited file) and catches up exactly once when space returns', async () => {
    const texts = Array.from({ length: 60 }, (_, i) => `Disk pressure note ${i} ${'x'.repeat(200)}`);
    for (const text of texts) await world.sql('INSERT INTO notes (tweet_text, keep_going) VALUES (?, ?)', [text, 'Yes']);
    await world.sql('PRAGMA wal_checkpoint(TRUNCATE)');
    const fs = await import('node:fs');
    const size = fs.statSync(world.dbFile).size;
    // RLIMIT_FSIZE in 512-byte blocks: room for a few pages beyond today's file, then EFBIG → SQLITE_FULL.
    const blocks = Math.ceil(size / 512) + 24;
    // A short lease: the cycle that failed could not write the release of its own lease either.
    const daemon = world.startDaemon(['poll'], { LOG_LEVEL: 'warn', KBTS_SCHEDULER_REFRESH_MS: '500', KBTS_LEASE_SECONDS: '3' }, { fileSizeBlocks: blocks });
    try {
      // SQLite reports the refused write (EFBIG) as a disk I/O error or SQLITE_FULL.
      await waitUntil(() => daemon.logLines.some((line) => /the database file cannot be written \(disk full/.test(String(line.error))), 'the refused write in the log', 60_000);
      assert.equal(daemon.child.exitCode, null, 'the daemon is still running');
      const { execFileSync } = await import('node:child_process');
      try {
        execFileSync('prlimit', ['--pid', String(daemon.child.pid), '--fsize=unlimited:'], { stdio: 'pipe' });
      } catch (error) {
        throw new Error(`prlimit failed (daemon exit ${daemon.child.exitCode}): ${(error as { stderr?: Buffer }).stderr}`);
      }
      await waitUntil(async () => {
        const counts = await (await world.services()).publications.countByState(integrationId);
        return counts.sent === texts.length;
      }, 'every record sent once space returned', 90_000);
    } finally {
      await daemon.stop();
    }
    await expectEachTweetedOnce(texts);
  });

  it('refuses to run on a read-only database file with the reason, and loses nothing', async () => {
    await world.sql("INSERT INTO notes (tweet_text, keep_going) VALUES ('written before the lock', 'Yes')");
    await world.sql('PRAGMA wal_checkpoint(TRUNCATE)');
    const fs = await import('node:fs');
    const files = [world.dbFile, `${world.dbFile}-wal`, `${world.dbFile}-shm`].filter((file) => fs.existsSync(file));
    for (const file of files) fs.chmodSync(file, 0o444);
    // Root may write any file: the command runs without that power, so mode 0444 holds for it.
    const refused = await world.cli(['--json', 'poll', '--once'], {}, undefined, { honourFileModes: true });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /error: the database file is read-only for this process|error: the database file cannot be opened/);
    for (const file of files) fs.chmodSync(file, 0o644);
    assert.equal((await world.pollOnce()).published, 1);
    await expectEachTweetedOnce(['written before the lock']);
  });
});

async function waitUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
