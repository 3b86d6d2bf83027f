import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { fieldBlock, fieldErrors, flashText } from '../support/html';
import { PASSWORD, WebWorld, type Agent } from '../support/web-world';
import { describeEachDatabase } from '../support/test-env';

/** Creates a token on the user's page and reads it from the one answer that shows it. */
async function createToken(world: WebWorld, agent: Agent, name: string): Promise<string> {
  const answer = await agent.post('/me/tokens').type('form').send({ _csrf: await world.csrf(agent), name });
  assert.equal(answer.status, 200);
  assert.equal(answer.headers['cache-control'], 'no-store');
  const match = /<code id="new-token">(kbts_[\w-]+)<\/code>/.exec(answer.text);
  assert.ok(match, 'the new token is shown');
  return match[1];
}

describeEachDatabase('web app: API tokens and the JSON API', (database) => {
  let world: WebWorld;
  let editor: Agent;
  let viewer: Agent;

  beforeEach(async () => {
    world = await WebWorld.create({ database });
    await world.signIn('ada', 'admin');
    editor = await world.signIn('edith', 'editor');
    viewer = await world.signIn('vic', 'viewer');
    await world.withSandboxIntegration({ username: 'kb_api' });
  });
  afterEach(async () => world.close());

  it('shows a new token once and stores only its hash', async () => {
    const token = await createToken(world, editor, 'import script');
    const page = await editor.get('/me');
    assert.ok(!page.text.includes(token), 'the token is not shown again');
    assert.match(page.text, new RegExp(`<code>${token.slice(0, 12)}…</code>`));
    const [row] = await world.services.db('kbts_api_tokens');
    assert.equal(row.token_hash, crypto.createHash('sha256').update(token).digest('hex'));
    assert.ok(!JSON.stringify(row).includes(token));
    const blank = await editor.post('/me/tokens').type('form').send({ _csrf: await world.csrf(editor), name: '' });
    assert.match(fieldErrors(blank.text)[0], /name the token/);
  });

  it('creates a record with an editor\'s token; the capture trigger sees it, and the record reads back', async () => {
    const token = await createToken(world, editor, 'writer');
    const tables = await world.agent().get('/api/v1/tables').set('authorization', `Bearer ${token}`);
    assert.equal(tables.status, 200);
    assert.deepEqual(tables.body.tables.map((table: { name: string }) => table.name), ['articles']);
    assert.deepEqual(tables.body.tables[0].primary_key, ['id']);

    const created = await world.agent().post('/api/v1/tables/articles/records').set('authorization', `Bearer ${token}`)
      .send({ title: 'From the API', tweet_text: 'Posted by a program' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.key, '1');
    assert.equal(created.body.record.keep_going, 'Yes');
    assert.equal((await world.services.publications.findByRecord(1, '1'))?.state, 'pending', 'the capture trigger saw the insert');

    const one = await world.agent().get('/api/v1/tables/articles/records/1').set('authorization', `Bearer ${token}`);
    assert.deepEqual(one.body.publications, [{ integration_id: 1, state: 'pending', tweet_id: null, reason: null }]);
    const page = await world.agent().get('/api/v1/tables/articles/records?limit=10').set('authorization', `Bearer ${token}`);
    assert.deepEqual([page.body.total, page.body.records.length, page.body.records[0].title], [1, 1, 'From the API']);
    assert.notEqual((await world.services.apiTokens.listForUser(2))[0].lastUsedAt, null);
  });

  it('refuses without a token, with a revoked token, and a viewer\'s token that tries to write', async () => {
    const anonymous = await world.agent().get('/api/v1/tables');
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers['www-authenticate'], /Bearer/);
    assert.equal((await world.agent().get('/api/v1/tables').set('authorization', 'Bearer kbts_made_up')).status, 401);
    // A session cookie is no way in: the API takes tokens only, so it needs no CSRF token.
    assert.equal((await editor.post('/api/v1/tables/articles/records').send({ title: 'x' })).status, 401);

    const readOnly = await createToken(world, viewer, 'reader');
    assert.equal((await world.agent().get('/api/v1/tables/articles/records').set('authorization', `Bearer ${readOnly}`)).status, 200);
    const write = await world.agent().post('/api/v1/tables/articles/records').set('authorization', `Bearer ${readOnly}`).send({ title: 'x' });
    assert.equal(write.status, 403);
    assert.match(write.body.error, /belongs to a viewer/);

    const revoked = await createToken(world, editor, 'short-lived');
    const [row] = await world.services.apiTokens.listForUser(2);
    await editor.post(`/me/tokens/${row.id}/delete`).type('form').send({ _csrf: await world.csrf(editor) });
    assert.match(flashText((await editor.get('/me')).text), /The token was revoked/);
    assert.equal((await world.agent().get('/api/v1/tables').set('authorization', `Bearer ${revoked}`)).status, 401);
  });

  it('answers bad input with a sentence: unknown table, unknown column, not an object, refused by the database', async () => {
    const token = await createToken(world, editor, 'checks');
    const post = (table: string, body: unknown) => world.agent().post(`/api/v1/tables/${table}/records`).set('authorization', `Bearer ${token}`).send(body as object);
    assert.equal((await post('nope', { title: 'x' })).status, 404);
    const unknown = await post('articles', { title: 'x', 'bad"column': 1 });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.error, /table 'articles' has no column 'bad"column'; its columns are id, title, tweet_text, replies, keep_going/);
    assert.equal((await post('articles', [1, 2])).status, 400);
    assert.equal((await post('articles', { title: { nested: true } })).status, 400);
    const refused = await post('articles', { tweet_text: 'no title' });
    assert.equal(refused.status, 400);
    assert.deepEqual(refused.body, { error: 'title is required', field: 'title' });
    const malformed = await world.agent().post('/api/v1/tables/articles/records').set('authorization', `Bearer ${token}`)
      .set('content-type', 'application/json').send('{"title": ');
    assert.equal(malformed.status, 400);
    assert.deepEqual(malformed.body, { error: 'The request body is not valid JSON.' });
    assert.equal(Number((await world.services.db('articles').count({ count: '*' }).first())?.count), 0);
  });
});

describeEachDatabase('web app: users and passwords', (database) => {
  let world: WebWorld;
  let admin: Agent;

  beforeEach(async () => {
    world = await WebWorld.create({ database });
    admin = await world.signIn('ada', 'admin');
  });
  afterEach(async () => world.close());

  it('lets an admin add users, change their roles and delete them, and keeps the last admin', async () => {
    const token = await world.csrf(admin, '/users');
    const added = await admin.post('/users').type('form').send({ _csrf: token, username: 'vic', password: PASSWORD, role: 'viewer' });
    assert.equal(added.status, 303);
    const duplicate = await admin.post('/users').type('form').send({ _csrf: token, username: 'vic', password: PASSWORD, role: 'viewer' });
    assert.deepEqual(fieldErrors(fieldBlock(duplicate.text, 'username')), ["user 'vic' already exists"]);
    const vic = await world.services.users.findByUsername('vic');
    await admin.post(`/users/${vic!.id}/role`).type('form').send({ _csrf: token, role: 'editor' });
    assert.equal((await world.services.users.get(vic!.id))?.role, 'editor');
    await admin.post('/users/1/role').type('form').send({ _csrf: token, role: 'viewer' });
    assert.match(flashText((await admin.get('/users')).text), /'ada' is the last admin and stays one/);
    await admin.post('/users/1/delete').type('form').send({ _csrf: token });
    assert.match(flashText((await admin.get('/users')).text), /You cannot delete yourself/);
    await admin.post(`/users/${vic!.id}/delete`).type('form').send({ _csrf: token });
    assert.equal(await world.services.users.get(vic!.id), undefined);
  });

  it('changes one\'s password after checking the current one, and signs out one\'s other sessions', async () => {
    const elsewhere = await world.signIn('ada', 'admin');
    const token = await world.csrf(admin);
    const wrong = await admin.post('/me/password').type('form').send({ _csrf: token, currentPassword: 'nope', password: 'a new long password', passwordRepeat: 'a new long password' });
    assert.equal(wrong.status, 400);
    assert.deepEqual(fieldErrors(fieldBlock(wrong.text, 'currentPassword')), ['this is not your current password']);
    const changed = await admin.post('/me/password').type('form').send({ _csrf: token, currentPassword: PASSWORD, password: 'a new long password', passwordRepeat: 'a new long password' });
    assert.equal(changed.status, 303);
    assert.equal((await admin.get('/me')).status, 200, 'this session stays');
    assert.equal((await elsewhere.get('/me')).status, 303, 'the other session ended');
  });
});
