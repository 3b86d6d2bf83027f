import assert from 'node:assert/strict';
import { isPostgres } from '../../src/db/dialect';
import { createExampleTable } from '../../src/kb/example-table';
import { decode, fieldBlock, fieldErrors, flashText } from '../support/html';
import { WebWorld, type Agent } from '../support/web-world';
import { describeEachDatabase } from '../support/test-env';

// Words only SQL (or a driver's report of it) would carry onto a page.
const SQL_WORDS = /insert into|update "|values \(|constraint failed|violates|SQLITE_|invalid input syntax/i;

describeEachDatabase('web app: database refusals in words beside the field', (database) => {
  let world: WebWorld;
  let editor: Agent;
  let apiToken: string;

  beforeEach(async () => {
    world = await WebWorld.create({ database });
    await world.signIn('ada', 'admin');
    editor = await world.signIn('edith', 'editor');
    const db = world.services.db;
    await db.raw(isPostgres(db)
      ? `CREATE TABLE gadgets (id serial PRIMARY KEY, title varchar(20) NOT NULL, code text UNIQUE,
           qty integer CHECK (qty >= 0), colour text NOT NULL DEFAULT 'grey', note text)`
      : `CREATE TABLE gadgets (id INTEGER PRIMARY KEY, title VARCHAR(20) NOT NULL, code TEXT UNIQUE,
           qty INTEGER CONSTRAINT qty_not_negative CHECK (qty >= 0), colour TEXT NOT NULL DEFAULT 'grey', note TEXT)`);
    await db('gadgets').insert({ title: 'First', code: 'A1', qty: 1 });
    const answer = await editor.post('/me/tokens').type('form').send({ _csrf: await world.csrf(editor), name: 'errors' });
    apiToken = /<code id="new-token">(kbts_[\w-]+)<\/code>/.exec(answer.text)![1];
  });
  afterEach(async () => world.close());

  async function submit(fields: Record<string, string>) {
    const body: Record<string, string> = { _csrf: await world.csrf(editor, '/records/gadgets/new') };
    for (const [name, value] of Object.entries(fields)) body[`field:${name}`] = value;
    return editor.post('/records/gadgets').type('form').send(body);
  }

  function api(values: Record<string, unknown>) {
    return world.agent().post('/api/v1/tables/gadgets/records').set('authorization', `Bearer ${apiToken}`).send(values);
  }

  it('marks NOT NULL columns without a default as required, and no others', async () => {
    const page = (await editor.get('/records/gadgets/new')).text;
    assert.match(fieldBlock(page, 'field-title'), /\* required/);
    assert.match(fieldBlock(page, 'field-title'), /<input id="field-title" name="field:title" value="" required/);
    for (const optional of ['field-id', 'field-code', 'field-colour', 'field-note']) {
      assert.doesNotMatch(fieldBlock(page, optional), /required/, `${optional} is not required`);
    }
  });

  const cases: Array<{ kind: string; fields: Record<string, string>; field: string; message: RegExp; postgresOnly?: boolean }> = [
    { kind: 'NOT NULL', fields: { code: 'B2', note: 'kept as typed' }, field: 'title', message: /^title is required$/ },
    { kind: 'UNIQUE', fields: { title: 'Second', code: 'A1', note: 'kept as typed' }, field: 'code', message: /^another record already has this code$/ },
    // A typed value that looks like another refusal does not mislead the translation.
    { kind: 'UNIQUE (value quoting a NOT NULL message)', fields: { title: 'Fifth', code: 'A1', note: "kept - NOT NULL constraint failed: gadgets.title" }, field: 'code', message: /^another record already has this code$/ },
    { kind: 'CHECK', fields: { title: 'Third', qty: '-1', note: 'kept as typed' }, field: 'qty', message: /^qty does not pass the table's check$/ },
    { kind: 'wrong type', fields: { title: 'Fourth', qty: 'many', note: 'kept as typed' }, field: 'qty', message: /^qty must be a value of type integer; 'many' is not$/, postgresOnly: true },
  ];

  for (const { kind, fields, field, message, postgresOnly } of cases) {
    it(`puts a ${kind} refusal beside the ${field} field of the form, keeping what was typed`, async function () {
      if (postgresOnly && database !== 'postgres') this.skip();
      const answer = await submit(fields);
      assert.equal(answer.status, 400);
      assert.deepEqual(fieldErrors(fieldBlock(answer.text, `field-${field}`)).map((text) => message.test(text)), [true]);
      assert.match(decode(answer.text), /The database refused the record; see the field marked below\./);
      assert.doesNotMatch(answer.text.replace(fields.note, ''), SQL_WORDS);
      assert.ok(decode(fieldBlock(answer.text, 'field-note')).includes(`>${fields.note}</textarea>`), 'the note is kept as typed');
      assert.equal((await world.services.db('gadgets').count({ n: '*' }).first())!.n, database === 'postgres' ? '1' : 1);
    });

    it(`answers a ${kind} refusal from the API with 400 and the field`, async function () {
      if (postgresOnly && database !== 'postgres') this.skip();
      const answer = await api(Object.fromEntries(Object.entries(fields).map(([name, value]) => [name, name === 'qty' && /^-?\d+$/.test(value) ? Number(value) : value])));
      assert.equal(answer.status, 400);
      assert.equal(answer.body.field, field);
      assert.match(answer.body.error, message);
      assert.doesNotMatch(answer.text, SQL_WORDS);
    });
  }

  it('puts a refusal of an edit beside its field', async () => {
    await world.services.db('gadgets').insert({ title: 'Other', code: 'B2' });
    const answer = await editor.post('/records/gadgets/rows/2').type('form').send({
      _csrf: await world.csrf(editor, '/records/gadgets/rows/2/edit'), 'field:title': 'Other', 'field:code': 'A1', 'field:colour': 'red',
    });
    assert.equal(answer.status, 400);
    assert.deepEqual(fieldErrors(fieldBlock(answer.text, 'field-code')), ['another record already has this code']);
    assert.match(fieldBlock(answer.text, 'field-colour'), /<textarea[^>]*>red<\/textarea>/);
    assert.doesNotMatch(answer.text, SQL_WORDS);
  });

  it('names a value too long for a varchar column from the API (PostgreSQL enforces the length)', async function () {
    if (database !== 'postgres') this.skip();
    const answer = await api({ title: 'x'.repeat(25) });
    assert.equal(answer.status, 400);
    assert.equal(answer.body.field, 'title');
    assert.equal(answer.body.error, 'title is too long for the column: at most 20 characters (this is 25)');
  });
});

describeEachDatabase('web app: a record form creates once and says what the next run will do', (database) => {
  let world: WebWorld;
  let editor: Agent;

  beforeEach(async () => {
    world = await WebWorld.create({ database });
    await world.signIn('ada', 'admin');
    editor = await world.signIn('edith', 'editor');
    await world.withSandboxIntegration({ username: 'kb_once' });
  });
  afterEach(async () => world.close());

  async function renderedForm(): Promise<{ _csrf: string; _form: string }> {
    const page = (await editor.get('/records/articles/new')).text;
    const form = /<input type="hidden" name="_form" value="([^"]+)">/.exec(page);
    assert.ok(form, 'the form carries a one-time token');
    return { _csrf: await world.csrf(editor, '/records/articles/new'), _form: form[1] };
  }

  const count = async () => Number((await world.services.db('articles').count({ n: '*' }).first())!.n);

  it('makes one record of two identical submissions sent at once, and shows the second the first one\'s record', async () => {
    const tokens = await renderedForm();
    const body = { ...tokens, 'field:title': 'Twice', 'field:tweet_text': 'Sent by a double click' };
    const answers = await Promise.all([1, 2].map(() => editor.post('/records/articles').type('form').send(body)));
    assert.deepEqual(answers.map((answer) => answer.status), [303, 303]);
    assert.deepEqual(answers.map((answer) => answer.headers.location), ['/records/articles/rows/1', '/records/articles/rows/1']);
    assert.equal(await count(), 1);

    const backAndSubmit = await editor.post('/records/articles').type('form').send(body);
    assert.equal(backAndSubmit.headers.location, '/records/articles/rows/1');
    assert.match(flashText((await editor.get('/records/articles/rows/1')).text), /already been sent: here is the record it created/);
    assert.equal(await count(), 1);

    const anotherForm = await renderedForm();
    await editor.post('/records/articles').type('form').send({ ...body, ...anotherForm });
    assert.equal(await count(), 2, 'a newly rendered form makes a new record');
  });

  it('lets a refused submission be corrected and sent again with the same form', async () => {
    const tokens = await renderedForm();
    const refused = await editor.post('/records/articles').type('form').send({ ...tokens, 'field:tweet_text': 'No title yet' });
    assert.equal(refused.status, 400);
    assert.match(refused.text, new RegExp(`name="_form" value="${tokens._form}"`));
    const fixed = await editor.post('/records/articles').type('form').send({ ...tokens, 'field:title': 'Now titled', 'field:tweet_text': 'No title yet' });
    assert.equal(fixed.status, 303);
    assert.equal(await count(), 1);
  });

  it('does not take a form token made for another user', async () => {
    const tokens = await renderedForm();
    const other = await world.signIn('otto', 'editor');
    const answer = await other.post('/records/articles').type('form').send({
      _csrf: await world.csrf(other, '/records/articles/new'), _form: tokens._form, 'field:title': 'Stolen', 'field:tweet_text': 'x',
    });
    assert.equal(answer.status, 409);
    assert.match(decode(answer.text), /too old to tell whether it was already sent/);
    assert.match(answer.text, /<textarea[^>]*>x<\/textarea>|value="x"/, 'what was typed is kept');
    assert.equal(await count(), 0);
  });

  async function confirmation(policy: string, fields: Record<string, string>): Promise<string> {
    await world.services.db('kbts_integrations').update({ long_text_policy: policy });
    const body: Record<string, string> = { ...(await renderedForm()) };
    for (const [name, value] of Object.entries(fields)) body[`field:${name}`] = value;
    const created = await editor.post('/records/articles').type('form').send(body);
    return flashText((await editor.get(created.headers.location)).text);
  }

  const words = (count: number) => Array.from({ length: count }, (_, index) => `w${String(index).padStart(4, '0')}`).join(' ');

  it('says a text over 280 weighted characters will be rejected under the reject policy, not that it will be tweeted', async () => {
    const text = await confirmation('reject', { title: 'Long', tweet_text: 'y'.repeat(300) });
    assert.match(text, /It will be rejected right away by integration 1: 300 of 280 weighted characters \(long-text policy: reject\)\./);
    assert.doesNotMatch(text, /will be tweeted/);
  });

  it('says a long text will be truncated, or posted in parts, under those policies', async () => {
    assert.match(await confirmation('truncate', { title: 'Cut', tweet_text: 'y'.repeat(300) }), /It will be truncated right away by integration 1: 300 of 280/);
    // 100 words of 5 characters and a space: 599 weighted characters, three parts with their counters.
    assert.match(await confirmation('thread', { title: 'Thread', tweet_text: words(100) }), /It will be posted in 3 parts right away by integration 1: 599 of 280/);
  });

  it('says a record whose continue field is No will not be tweeted', async () => {
    assert.match(await confirmation('reject', { title: 'Held', tweet_text: 'short', keep_going: 'No' }), /It will not be tweeted by integration 1: its continue field is No\./);
  });
});

describeEachDatabase('web app: the wizard creates one integration however often Create is sent', (database) => {
  let world: WebWorld;
  let admin: Agent;

  beforeEach(async () => {
    world = await WebWorld.create({ database });
    admin = await world.signIn('ada', 'admin');
    await createExampleTable(world.services.db);
    const added = await admin.post('/accounts').type('form').send({ _csrf: await world.csrf(admin, '/accounts/new'), intent: 'save', description: 'Once', environment: 'sandbox' });
    assert.equal(added.status, 303);
  });
  afterEach(async () => world.close());

  it('answers Back + Create, and a double click, with the integration the first Create made', async () => {
    const page = (await admin.get('/integrations/new')).text;
    const form = /<input type="hidden" name="_form" value="([^"]+)">/.exec(page);
    assert.ok(form, 'the wizard carries a one-time token');
    const body = {
      _csrf: await world.csrf(admin, '/integrations/new'), _form: form[1], step: '4', nav: 'next', accountId: '1', table: 'articles', tweetField: 'tweet_text',
      responseField: 'replies', responseMode: 'append', continueField: 'keep_going', frequency: '5', timeZone: 'UTC', longTextPolicy: 'reject',
    };
    const clicks = await Promise.all([1, 2].map(() => admin.post('/integrations/new').type('form').send(body)));
    assert.deepEqual(clicks.map((answer) => answer.status), [303, 303]);
    const back = await admin.post('/integrations/new').type('form').send(body);
    assert.equal(back.status, 303);
    assert.match(flashText((await admin.get('/')).text), /This wizard had already created integration 1; no second integration was made\./);
    assert.equal((await world.services.integrations.list()).length, 1);
  });
});

describeEachDatabase('web app: "Create token" makes one token however often it is sent', (database) => {
  let world: WebWorld;
  let editor: Agent;

  beforeEach(async () => {
    world = await WebWorld.create({ database });
    await world.signIn('ada', 'admin');
    editor = await world.signIn('edith', 'editor');
  });
  afterEach(async () => world.close());

  it('answers a double click with one token, shown on both answers, which works', async () => {
    const page = (await editor.get('/me')).text;
    const form = /<form method="post" action="\/me\/tokens"[\s\S]*?<input type="hidden" name="_form" value="([^"]+)">/.exec(page);
    assert.ok(form, 'the token form carries a one-time token');
    const body = { _csrf: await world.csrf(editor), _form: form[1], name: 'double click', lifetime: 'never' };
    const answers = await Promise.all([1, 2].map(() => editor.post('/me/tokens').type('form').send(body)));
    const shown = answers.map((answer) => /<code id="new-token">(kbts_[\w-]+)<\/code>/.exec(answer.text)?.[1]);
    assert.ok(shown[0], 'the first answer shows the token');
    assert.equal(shown[1], shown[0], 'the second answer shows the same token');
    assert.equal((await world.services.db('kbts_api_tokens')).length, 1);
    const tables = await world.agent().get('/api/v1/tables').set('authorization', `Bearer ${shown[0]}`);
    assert.equal(tables.status, 200);
  });
});
