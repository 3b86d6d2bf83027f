import assert from 'node:assert/strict';
import pg from 'pg';
import { listTables } from '../../src/kb/schema';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { describeEachDatabase } from '../support/test-env';
import { WebWorld, type Agent } from '../support/web-world';

/**
 * Table and column names an attacker with SQL access to the KB may create (issue 10, finding 1):
 * each must reach SQL as one quoted identifier, never as a path to the product's own tables.
 */
const HOSTILE_TABLES = [
  'main.kbts_users', 'public.kbts_users', 'main.kbts_accounts', 'sales.2024', '../../etc/passwd', 'articles as zz',
  'what?', 'a ? b ?? c', 'quo"te', "single'quote", 'back`tick', 'ünïcødé 表', 'back\\slash?', `long_${'x'.repeat(295)}`,
];
// Names with no address among the pages: browsers resolve them away as path steps.
const UNADDRESSABLE = ['.', '..'];
// Columns every hostile table has: the key, a tweet field, a response field and a continue field.
const KEY = 'id as x';
const TWEET = 'tweet?text';
const REPLIES = 're"plies.all';
const CONTINUE = 'go.on';

describeEachDatabase('security: KB names reach SQL as one identifier, never the product\'s tables', (database) => {
  let world: WebWorld;
  let admin: Agent;
  let editor: Agent;
  let viewerToken: string;
  let editorToken: string;
  /** The hostile names as introspection reports them (PostgreSQL shortens names beyond 63 bytes). */
  let tables: string[];
  let usersBefore: unknown[];

  // The test's own SQL goes straight to the driver (no knex), with its own quoting; `$?` is a parameter.
  const q = (name: string) => `"${name.replace(/"/g, '""')}"`;
  async function sql(statement: string, params: unknown[] = []): Promise<Array<Record<string, unknown>>> {
    if (database === 'sqlite') {
      return world.env.kb((db) => {
        const prepared = db.prepare(statement.replace(/\$\?/g, '?'));
        return prepared.reader ? prepared.all(...params) as Array<Record<string, unknown>> : (prepared.run(...params), []);
      });
    }
    const client = new pg.Client({ connectionString: world.env.databaseUrl });
    await client.connect();
    try {
      let n = 0;
      return (await client.query(statement.replace(/\$\?/g, () => `$${++n}`), params)).rows;
    } finally {
      await client.end();
    }
  }
  const rows = (table: string) => sql(`SELECT * FROM ${q(table)} ORDER BY 1`);
  const enc = encodeURIComponent;
  // As ejs writes text into a page.
  const html = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&#34;').replace(/'/g, '&#39;');

  async function tokenFor(agent: Agent): Promise<string> {
    const created = await agent.post('/me/tokens').type('form').send({ _csrf: await world.csrf(agent), name: 'probe' });
    return /<code[^>]*>(kbts_[\w-]+)<\/code>/.exec(created.text)![1];
  }

  before(async () => {
    world = await WebWorld.create({ database });
    admin = await world.signIn('root', 'admin');
    editor = await world.signIn('eddie', 'editor');
    const viewer = await world.signIn('vera', 'viewer');
    viewerToken = await tokenFor(viewer);
    editorToken = await tokenFor(editor);
    const db = world.services.db;
    for (const name of [...HOSTILE_TABLES, ...UNADDRESSABLE]) {
      const key = database === 'postgres' ? `${q(KEY)} serial PRIMARY KEY` : `${q(KEY)} INTEGER PRIMARY KEY`;
      await sql(`CREATE TABLE ${q(name)} (${key}, ${q(TWEET)} text, ${q(REPLIES)} text, ${q(CONTINUE)} varchar(10), title text)`);
    }
    const known = await listTables(db);
    tables = known.filter((name) => !UNADDRESSABLE.includes(name));
    assert.equal(tables.length, HOSTILE_TABLES.length, `every hostile table is listed: ${known.join(' | ')}`);
    for (const name of [...tables, ...UNADDRESSABLE]) {
      await sql(`INSERT INTO ${q(name)} (${q(TWEET)}, ${q(CONTINUE)}, title) VALUES ($?, 'No', $?)`, [`tweet of ${name}`, `row of ${name}`]);
    }
    usersBefore = await db('kbts_users').orderBy('id');
  });
  after(async () => world.close());

  /** Nothing of the product's own tables came out, and nothing of them changed. */
  async function productTablesUntouched(text: string): Promise<void> {
    assert.ok(!/scrypt\$/.test(text), 'no password hash in the answer');
    assert.ok(!text.includes('password_hash'), 'no column of kbts_users in the answer');
    assert.deepEqual(await world.services.db('kbts_users').orderBy('id'), usersBefore);
  }

  it('lists every table by its real name, and those without an address with the reason, for every role', async () => {
    for (const agent of [admin, editor]) {
      const page = await agent.get('/records');
      assert.equal(page.status, 200);
      for (const name of tables) assert.ok(page.text.includes(`href="${html(`/records/${enc(name)}`)}"`), `a link to ${name}`);
      assert.ok(page.text.includes(html("(not shown: its name '..' is a relative path step")), 'the reason beside ..');
    }
    const api = await world.agent().get('/api/v1/tables').set('Authorization', `Bearer ${viewerToken}`);
    assert.equal(api.status, 200);
    const listed = new Map((api.body.tables as Array<{ name: string; problem?: string; columns?: unknown[] }>).map((table) => [table.name, table]));
    for (const name of tables) assert.equal(listed.get(name)?.columns?.length, 5, name);
    assert.match(listed.get('..')!.problem!, /relative path step/);
    assert.ok(![...listed.keys()].some((name) => /^kbts_/.test(name)));
    await productTablesUntouched(api.text);
  });

  it('shows, creates and edits records of each hostile table through the pages, and only of that table', async () => {
    const token = await world.csrf(editor, '/records');
    for (const name of tables) {
      const list = await editor.get(`/records/${enc(name)}`);
      assert.equal(list.status, 200, `${name}: ${list.status}`);
      await productTablesUntouched(list.text);
      const show = await editor.get(`/records/${enc(name)}/rows/1`);
      assert.equal(show.status, 200, name);
      assert.ok(show.text.includes(html(`row of ${name}`)), `${name} shows its own row`);
      assert.equal((await editor.get(`/records/${enc(name)}/rows/1/edit`)).status, 200, name);
      await productTablesUntouched(show.text);

      const created = await editor.post(`/records/${enc(name)}`).type('form')
        .send({ _csrf: token, [`field:${TWEET}`]: 'made on the page', [`field:${CONTINUE}`]: 'No', 'field:title': 'new' });
      assert.equal(created.status, 303, `${name}: ${created.text.slice(0, 300)}`);
      const edited = await editor.post(`/records/${enc(name)}/rows/1`).type('form')
        .send({ _csrf: token, [`field:${TWEET}`]: 'edited', [`field:${REPLIES}`]: 'a reply', [`field:${CONTINUE}`]: 'Yes', 'field:title': 'edited title' });
      assert.equal(edited.status, 303, name);
      const stored = await rows(name);
      assert.deepEqual(stored.map((row) => [row[TWEET], row[REPLIES], row.title]), [['edited', 'a reply', 'edited title'], ['made on the page', null, 'new']], name);
    }
    await productTablesUntouched('');
  });

  it('serves the JSON API for each hostile table with a viewer\'s and an editor\'s token, never the product\'s rows', async () => {
    const api = world.agent();
    for (const name of tables) {
      const list = await api.get(`/api/v1/tables/${enc(name)}/records`).set('Authorization', `Bearer ${viewerToken}`);
      assert.equal(list.status, 200, name);
      assert.ok(list.body.records.length >= 1);
      for (const record of list.body.records) assert.deepEqual(Object.keys(record).sort(), [CONTINUE, KEY, REPLIES, TWEET, 'title'].sort());
      await productTablesUntouched(list.text);
      const one = await api.get(`/api/v1/tables/${enc(name)}/records/1`).set('Authorization', `Bearer ${viewerToken}`);
      assert.equal(one.status, 200, name);
      const created = await api.post(`/api/v1/tables/${enc(name)}/records`).set('Authorization', `Bearer ${editorToken}`)
        .send({ [TWEET]: 'from the API', [CONTINUE]: 'No', title: 'api' });
      assert.equal(created.status, 201, `${name}: ${created.text}`);
      assert.equal(created.body.record[TWEET], 'from the API');
      assert.equal((await rows(name)).at(-1)![TWEET], 'from the API');
    }
    // The product's own tables, by any spelling, are no KB table.
    for (const name of ['kbts_users', 'KBTS_USERS', 'kbts_accounts', '"kbts_users"', 'main."kbts_users"', 'kbts_users as x']) {
      const answer = await api.get(`/api/v1/tables/${enc(name)}/records`).set('Authorization', `Bearer ${viewerToken}`);
      assert.equal(answer.status, 404, name);
      const created = await api.post(`/api/v1/tables/${enc(name)}/records`).set('Authorization', `Bearer ${editorToken}`)
        .send({ username: 'intruder', password_hash: 'x', role: 'admin', created_at: 'now' });
      assert.equal(created.status, 404, name);
      assert.equal((await editor.get(`/records/${enc(name)}`)).status, 404, name);
    }
    await productTablesUntouched('');
  });

  it('maps a hostile table and columns in the wizard, and the command line does the same; both tweet and write replies back', async () => {
    const accountToken = await world.csrf(admin, '/accounts/new');
    const account = await admin.post('/accounts').type('form').send({ _csrf: accountToken, intent: 'save', description: 'Names', environment: 'sandbox' });
    assert.equal(account.status, 303, account.text);
    const accountId = account.headers.location.split('/').pop() as string;
    const table = 'main.kbts_users';
    const step = async (number: number, choices: Record<string, string> = {}) => admin.post('/integrations/new').type('form').send({
      _csrf: await world.csrf(admin, '/integrations/new'), step: String(number), nav: 'next', accountId, table, tweetField: TWEET, responseField: REPLIES,
      responseMode: 'append', continueField: CONTINUE, frequency: '5', timeZone: 'UTC', longTextPolicy: 'reject', ...choices,
    });
    assert.equal((await step(2)).status, 200);
    const review = await step(3);
    assert.equal(review.status, 200, review.text.slice(0, 500));
    const created = await step(4);
    assert.equal(created.status, 303, created.text.slice(0, 800));

    // The command line, for another hostile table, with the same columns.
    const cliTable = tables.find((name) => name.startsWith('a ? b'))!;
    const cli = await world.env.cli(['--json', 'integration', 'add', '--account', accountId, '--table', cliTable, '--tweet-field', TWEET,
      '--response-field', REPLIES, '--mode', 'append', '--continue-field', CONTINUE]);
    assert.equal(cli.code, 0, cli.stderr);
    // A name knex would have split is refused by name, not reached.
    const split = await world.env.cli(['--json', 'integration', 'add', '--account', accountId, '--table', 'main.kbts_sessions', '--tweet-field', 'id_hash',
      '--response-field', 'flash', '--mode', 'append', '--continue-field', 'user_id']);
    assert.notEqual(split.code, 0);
    assert.match(split.stderr, /table 'main\.kbts_sessions' does not exist/);

    for (const name of [table, cliTable]) {
      await sql(`INSERT INTO ${q(name)} (${q(TWEET)}, ${q(CONTINUE)}) VALUES ($?, 'Yes')`, [`tweeted from ${name}`]);
    }
    const integrations = await world.services.integrations.list();
    for (const integration of integrations) await runPollCycle(world.services.sync, { integrationId: integration.id });
    const screenName = (await world.services.accounts.get(Number(accountId)))!.screenName!;
    const tweets = world.sandbox.listTweets({ author: screenName });
    world.sandbox.createUser({ username: 'replier' });
    for (const name of [table, cliTable]) {
      const tweet = tweets.find((candidate) => candidate.text === `tweeted from ${name}`);
      assert.ok(tweet, `the record of ${name} was tweeted: ${tweets.map((t) => t.text).join(' | ')}`);
      world.sandbox.postAs({ as: 'replier', in_reply_to_tweet_id: tweet.id, text: `answer for ${name}` });
    }
    for (const integration of integrations) await runPollCycle(world.services.sync, { integrationId: integration.id });
    for (const name of [table, cliTable]) {
      const written = (await rows(name)).find((row) => row[TWEET] === `tweeted from ${name}`)!;
      assert.match(String(written[REPLIES]), new RegExp(`answer for`), `the reply was written into ${name}`);
    }
    await productTablesUntouched('');
  });
});
