import assert from 'node:assert/strict';
import { isPostgres } from '../../src/db/dialect';
import { decode, fieldBlock, fieldErrors } from '../support/html';
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
      assert.doesNotMatch(answer.text, SQL_WORDS);
      assert.match(fieldBlock(answer.text, 'field-note'), /<textarea[^>]*>kept as typed<\/textarea>/);
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
