import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { toIso } from '../../src/lib/clock';
import { fieldBlock, fieldErrors, flashText } from '../support/html';
import { describeEachDatabase } from '../support/test-env';
import { PASSWORD, WebWorld, type Agent } from '../support/web-world';

describeEachDatabase('security: API tokens end, and admins see and revoke everyone\'s', (database) => {
  let world: WebWorld;
  let admin: Agent;
  let editor: Agent;

  beforeEach(async () => {
    world = await WebWorld.create({ database });
    admin = await world.signIn('root', 'admin');
    editor = await world.signIn('eddie', 'editor');
  });
  afterEach(async () => world.close());

  async function newToken(agent: Agent, name: string, lifetime?: string): Promise<string> {
    const created = await agent.post('/me/tokens').type('form').send({ _csrf: await world.csrf(agent), name, ...(lifetime ? { lifetime } : {}) });
    assert.equal(created.status, 200, created.text.slice(0, 300));
    return /<code id="new-token">(kbts_[\w-]+)<\/code>/.exec(created.text)![1];
  }
  const tables = (token: string) => world.agent().get('/api/v1/tables').set('Authorization', `Bearer ${token}`);

  it('gives a token an optional end: it works until then and is refused after, with the reason', async () => {
    const lasting = await newToken(editor, 'for ever');
    const weekly = await newToken(editor, 'a week', '7');
    const [forEver, week] = await world.services.apiTokens.listForUser((await world.services.users.findByUsername('eddie'))!.id);
    assert.equal(forEver.expiresAt, null);
    assert.equal(week.expiresAt!.slice(0, 10), toIso(world.services.clock.now().plus({ days: 7 })).slice(0, 10));
    assert.equal((await tables(weekly)).status, 200);
    // The week has passed.
    await world.services.db('kbts_api_tokens').where({ id: week.id }).update({ expires_at: toIso(world.services.clock.now().minus({ seconds: 1 })) });
    const refused = await tables(weekly);
    assert.equal(refused.status, 401);
    assert.match(refused.body.error, /a revoked or expired token is refused/);
    assert.equal((await tables(lasting)).status, 200);
    assert.match((await editor.get('/me')).text, /ended \d{4}-\d\d-\d\d/);
    const badLifetime = await editor.post('/me/tokens').type('form').send({ _csrf: await world.csrf(editor), name: 'odd', lifetime: '10000' });
    assert.equal(badLifetime.status, 400);
    assert.match(badLifetime.text, /choose how long the token works: never, 7, 30, 90, 365 \(days\)/);
  });

  it('lists every user\'s tokens for admins, who can revoke any; others cannot', async () => {
    const editorsToken = await newToken(editor, 'import script');
    const page = await admin.get('/users');
    assert.match(page.text, /<td>eddie<\/td><td>import script<\/td>/);
    assert.ok(!page.text.includes(editorsToken), 'the token itself is never shown again');
    const [token] = await world.services.apiTokens.listAll();
    const viewer = await world.signIn('vera', 'viewer');
    assert.equal((await viewer.post(`/users/tokens/${token.id}/delete`).type('form').send({ _csrf: await world.csrf(viewer) })).status, 403);
    assert.equal((await editor.post(`/users/tokens/${token.id}/delete`).type('form').send({ _csrf: await world.csrf(editor) })).status, 403);
    assert.equal((await tables(editorsToken)).status, 200);
    const revoked = await admin.post(`/users/tokens/${token.id}/delete`).type('form').send({ _csrf: await world.csrf(admin) });
    assert.equal(revoked.status, 303);
    assert.match(flashText((await admin.get('/users')).text), /The token 'import script' of 'eddie' was revoked\./);
    assert.equal((await tables(editorsToken)).status, 401);
  });

  it('ends one\'s API tokens with a password change when asked, and keeps them otherwise', async () => {
    const kept = await newToken(editor, 'kept');
    const change = (extra: Record<string, string>, from: string, to: string) => editor.post('/me/password').type('form')
      .send({ _csrf: token, currentPassword: from, password: to, passwordRepeat: to, ...extra });
    let token = await world.csrf(editor);
    assert.equal((await change({}, PASSWORD, 'second long password')).status, 303);
    assert.equal((await tables(kept)).status, 200, 'without the box, tokens stay');
    token = await world.csrf(editor);
    const ended = await change({ endTokens: 'on' }, 'second long password', 'third long password');
    assert.equal(ended.status, 303);
    assert.match(flashText((await editor.get('/me')).text), /your 1 API token\(s\) were revoked/);
    assert.equal((await tables(kept)).status, 401);
  });
});

describeEachDatabase('security: an account\'s stored keys never go to a new address', (database) => {
  let world: WebWorld;
  let admin: Agent;
  let token: string;
  let accountId: number;
  let elsewhere: http.Server;
  let elsewhereUrl: string;
  const received: Array<{ url: string; authorization: string }> = [];
  let stored: { apiKey: string; accessToken: string };

  before(async () => {
    world = await WebWorld.create({ database });
    admin = await world.signIn('root', 'admin');
    token = await world.csrf(admin, '/accounts/new');
    const created = world.sandbox.createUser({ username: 'kb_keys' });
    stored = { apiKey: created.credentials.api_key, accessToken: created.credentials.access_token };
    const added = await admin.post('/accounts').type('form').send({
      _csrf: token, intent: 'save', description: 'Keys', environment: 'live', apiBaseUrl: `${world.url}/sandbox/x`,
      apiKey: created.credentials.api_key, apiKeySecret: created.credentials.api_key_secret,
      accessToken: created.credentials.access_token, accessTokenSecret: created.credentials.access_token_secret,
    });
    assert.equal(added.status, 303, added.text.slice(0, 500));
    accountId = Number(added.headers.location.split('/').pop());
    // Another address an admin might point the account at: it records whatever reaches it.
    elsewhere = http.createServer((req, res) => {
      received.push({ url: req.url ?? '', authorization: req.headers.authorization ?? '' });
      res.writeHead(404, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', () => resolve()));
    elsewhereUrl = `http://127.0.0.1:${(elsewhere.address() as net.AddressInfo).port}`;
  });
  after(async () => {
    elsewhere.closeAllConnections();
    await new Promise((resolve) => elsewhere.close(resolve));
    await world.close();
  });

  it('refuses "Test login" and "Save" with a new API base URL and blank keys, sending nothing there', async () => {
    const form = { _csrf: token, description: 'Keys', environment: 'live', apiBaseUrl: elsewhereUrl };
    const script = await admin.post('/accounts/test-login').type('form').send({ ...form, accountId: String(accountId) });
    assert.equal(script.body.ok, false);
    assert.match(script.body.error, /enter all four keys again; the stored keys are never sent to a new address/);
    const tested = await admin.post(`/accounts/${accountId}`).type('form').send({ ...form, intent: 'test' });
    assert.equal(tested.status, 400);
    assert.match(tested.text, /enter all four keys again/);
    const saved = await admin.post(`/accounts/${accountId}`).type('form').send({ ...form, intent: 'save', apiKey: 'one new key only' });
    assert.equal(saved.status, 400);
    assert.match(fieldErrors(fieldBlock(saved.text, 'apiKeySecret')).join(' '), /enter all four keys again/);
    // Leaving the live API for the sandbox is a new address too.
    const toSandbox = await admin.post(`/accounts/${accountId}`).type('form').send({ _csrf: token, description: 'Keys', environment: 'sandbox', intent: 'save' });
    assert.equal(toSandbox.status, 400);
    assert.deepEqual(received, [], 'nothing reached the new address');
    assert.equal((await world.services.accounts.get(accountId))!.apiBaseUrl, `${world.url}/sandbox/x`, 'the account keeps its address');
  });

  it('sends only the keys typed in to the new address, never the stored ones', async () => {
    const answer = await admin.post('/accounts/test-login').type('form').send({
      _csrf: token, accountId: String(accountId), description: 'Keys', environment: 'live', apiBaseUrl: elsewhereUrl,
      apiKey: 'typed-key', apiKeySecret: 'typed-secret', accessToken: 'typed-token', accessTokenSecret: 'typed-token-secret',
    });
    assert.equal(answer.body.ok, false, 'the address is no X');
    assert.ok(received.length > 0);
    for (const request of received) {
      assert.match(request.authorization, /oauth_consumer_key="typed-key"/);
      assert.ok(!request.authorization.includes(stored.apiKey) && !request.authorization.includes(stored.accessToken));
    }
  });

  it('still tests and saves an unchanged address with the stored keys', async () => {
    const tested = await admin.post(`/accounts/${accountId}`).type('form').send({ _csrf: token, description: 'Keys renamed', environment: 'live', apiBaseUrl: `${world.url}/sandbox/x`, intent: 'test' });
    assert.equal(tested.status, 200);
    assert.match(tested.text, /@kb_keys/);
    const saved = await admin.post(`/accounts/${accountId}`).type('form').send({ _csrf: token, description: 'Keys renamed', environment: 'live', apiBaseUrl: `${world.url}/sandbox/x`, intent: 'save' });
    assert.equal(saved.status, 303);
  });
});
