import assert from 'node:assert/strict';
import { articlesTable, describeEachDatabase, TestEnv, type EmulatorUser } from '../support/test-env';

describeEachDatabase('command line', (database) => {
  let world: TestEnv;
  let account: EmulatorUser;
  let accountId: number;

  before(async () => {
    world = await TestEnv.create(database);
    await world.sql(articlesTable(world));
    await world.sql(`CREATE TABLE counters (id ${world.autoId}, label TEXT, total INTEGER, keep_going TEXT)`);
    await world.sql('CREATE TABLE log_lines (line TEXT, replies TEXT, keep_going TEXT)');
    await world.sql('CREATE TABLE pairs (a TEXT, b TEXT, tweet_text TEXT, replies TEXT, keep_going TEXT, PRIMARY KEY (a, b))');
    await world.sql(`CREATE TABLE short_notes (id ${world.autoId}, tweet_text TEXT, replies VARCHAR(200), keep_going TEXT NOT NULL)`);
    account = await world.createXUser('kb_cli');
    accountId = await world.addAccount(account);
  });
  after(async () => world.close());

  const add = (overrides: Record<string, string>) => {
    const options: Record<string, string> = {
      account: String(accountId), table: 'articles', 'tweet-field': 'tweet_text', 'response-field': 'replies',
      mode: 'append', 'continue-field': 'keep_going', ...overrides,
    };
    const args = ['integration', 'add'];
    for (const [key, value] of Object.entries(options)) args.push(`--${key}`, value);
    return world.cli(args);
  };

  it('prints the new account id and screen name as one JSON object', async () => {
    const other = await world.createXUser('kb_second');
    const result = await world.cli(['--json', 'account', 'add', '--description', 'second', '--api-base-url', world.emulator.url], world.credentialsEnv(other));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(typeof result.json.id, 'number');
    assert.equal(result.json.screen_name, 'kb_second');
    assert.equal(result.stdout.trim().split('\n').length, 1);
  });

  it('refuses an account whose login test fails, with the reason and a non-zero exit, storing nothing', async () => {
    const before = await world.cli(['--json', 'account', 'list']);
    const env = { ...world.credentialsEnv(account), TWITTER_ACCESS_TOKEN_SECRET: 'wrong-secret' };
    const result = await world.cli(['account', 'add', '--description', 'bad', '--api-base-url', world.emulator.url], env);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /error: login test failed: X refused the account's credentials \(401/);
    assert.ok(!result.stderr.includes('wrong-secret') && !result.stdout.includes('wrong-secret'), 'the secret is never printed');
    const after = await world.cli(['--json', 'account', 'list']);
    assert.equal(after.json.accounts.length, before.json.accounts.length);
  });

  it('asks for credentials from the environment when they are missing', async () => {
    const result = await world.cli(['account', 'add', '--description', 'x', '--api-base-url', world.emulator.url]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /set TWITTER_API_KEY, TWITTER_API_KEY_SECRET, TWITTER_ACCESS_TOKEN, TWITTER_ACCESS_TOKEN_SECRET in the environment/);
  });

  for (const [name, overrides, message] of [
    ['an unknown table', { table: 'nope' }, /table 'nope' does not exist in the knowledgebase/],
    ['a missing column', { 'tweet-field': 'body' }, /column 'body' does not exist in table 'articles'/],
    ['the same field chosen twice', { 'response-field': 'tweet_text' }, /the tweet field and the response field are the same column 'tweet_text'/],
    ['a non-text response field', { table: 'counters', 'tweet-field': 'label', 'response-field': 'total' }, /the response field 'total' is of type (INTEGER|integer); replies are text/],
    ['a table without a primary key', { table: 'log_lines', 'tweet-field': 'line' }, /table 'log_lines' has no primary key/],
    ['a table with a two-column primary key', { table: 'pairs' }, /primary key of 2 columns \(a, b\); a single-column primary key is needed/],
    ['an unknown response mode', { mode: 'sideways' }, /response mode must be one of append, prepend, overwrite, not 'sideways'/],
    ['a bad cron expression', { every: 'every minute' }, /'every minute' is not a cron expression/],
    ['an unknown time zone', { timezone: 'Mars/Olympus' }, /'Mars\/Olympus' is not a time zone/],
  ] as const) {
    it(`refuses ${name} with a clear error and a non-zero exit`, async () => {
      const result = await add(overrides as Record<string, string>);
      assert.equal(result.code, 1, result.stdout);
      assert.match(result.stderr, message);
      const [rows] = await world.sql('SELECT COUNT(*) AS n FROM kbts_integrations');
      assert.equal(Number(rows.n), 0, 'nothing was stored');
    });
  }

  it('adds an integration with warnings for a nullable continue field and a short response field', async () => {
    const nullable = await add({});
    assert.equal(nullable.code, 0, nullable.stderr);
    assert.match(nullable.stderr, /warning: the continue field 'keep_going' allows NULL; blank counts as Yes/);
    const short = await world.cli(['--json', 'integration', 'add', '--account', String(accountId), '--table', 'short_notes',
      '--tweet-field', 'tweet_text', '--response-field', 'replies', '--mode', 'overwrite', '--continue-field', 'keep_going']);
    assert.equal(short.code, 0, short.stderr);
    assert.equal(typeof short.json.id, 'number');
    assert.deepEqual(short.json.warnings, ["the response field 'replies' holds at most 200 characters; replies will overflow it (a reply that does not fit is kept in the communications log, not written)"]);
  });

  it('lists, pauses and resumes integrations, and says so when one does not exist', async () => {
    const list = await world.cli(['--json', 'integration', 'list']);
    const [first] = list.json.integrations;
    assert.equal(first.status, 'active');
    assert.equal((await world.cli(['--json', 'integration', 'pause', String(first.id)])).json.status, 'paused');
    assert.equal((await world.cli(['--json', 'integration', 'resume', String(first.id)])).json.status, 'active');
    const missing = await world.cli(['integration', 'pause', '999']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /integration 999 does not exist/);
    const badId = await world.cli(['integration', 'remove', 'abc']);
    assert.equal(badId.code, 1);
    assert.match(badId.stderr, /integration id must be a positive whole number, not 'abc'/);
  });

  it('changes an integration with `integration update`, checking its options as `add` does and keeping the rest', async () => {
    const [first] = (await world.cli(['--json', 'integration', 'list'])).json.integrations;
    const changed = await world.cli(['--json', 'integration', 'update', String(first.id), '--every', '*/15 * * * *', '--mode', 'prepend', '--long-text', 'thread']);
    assert.equal(changed.code, 0, changed.stderr);
    assert.deepEqual([changed.json.every, changed.json.mode, changed.json.long_text, changed.json.tweet_field, changed.json.timezone],
      ['*/15 * * * *', 'prepend', 'thread', first.tweet_field, first.timezone]);
    const badZone = await world.cli(['integration', 'update', String(first.id), '--timezone', 'Mars/Olympus']);
    assert.equal(badZone.code, 1);
    assert.match(badZone.stderr, /'Mars\/Olympus' is not a time zone/);
    const sameColumn = await world.cli(['integration', 'update', String(first.id), '--response-field', first.tweet_field]);
    assert.equal(sameColumn.code, 1);
    assert.match(sameColumn.stderr, /the tweet field and the response field are the same column/);
    const otherTable = await world.cli(['integration', 'update', String(first.id), '--table', 'counters']);
    assert.equal(otherTable.code, 1);
    assert.match(otherTable.stderr, /the table of an integration cannot change/);
    const [after] = (await world.cli(['--json', 'integration', 'list'])).json.integrations;
    assert.deepEqual([after.every, after.mode, after.response_field, after.table], ['*/15 * * * *', 'prepend', first.response_field, first.table], 'a refused update changes nothing');
  });

  it('creates an admin with the password from KBTS_PASSWORD or standard input, never from arguments', async () => {
    const fromEnv = await world.cli(['--json', 'admin', 'create', '--username', 'root'], { KBTS_PASSWORD: 'correct horse battery' });
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    assert.equal(fromEnv.json.role, 'admin');
    const fromStdin = await world.cli(['admin', 'create', '--username', 'editor1', '--role', 'editor'], {}, 'another long password\n');
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    const [stored] = await world.sql('SELECT password_hash FROM kbts_users WHERE username = ?', ['root']);
    assert.match(stored.password_hash, /^scrypt\$/);
    const tooShort = await world.cli(['admin', 'create', '--username', 'x'], { KBTS_PASSWORD: 'short' });
    assert.equal(tooShort.code, 1);
    assert.match(tooShort.stderr, /at least 10 characters/);
  });

  it('keeps X secrets encrypted in the database file', async () => {
    const raw = JSON.stringify(await world.sql('SELECT * FROM kbts_accounts'));
    for (const secret of Object.values(account.credentials)) assert.ok(!raw.includes(secret), 'no credential in the clear');
  });
});
