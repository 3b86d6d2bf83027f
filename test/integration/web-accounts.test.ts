import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EmulatorState } from '../../src/emulator/emulator';
import { restoreSandboxUsers } from '../../src/setup/sandbox-setup';
import { decode, fieldBlock, fieldErrors, flashText } from '../support/html';
import { WebWorld, type Agent } from '../support/web-world';
import { describeEachDatabase } from '../support/test-env';

describeEachDatabase('web app: X accounts', (database) => {
  let world: WebWorld;
  let admin: Agent;
  let token: string;

  beforeEach(async () => {
    world = await WebWorld.create({ database });
    admin = await world.signIn('ada', 'admin');
    token = await world.csrf(admin, '/accounts/new');
  });
  afterEach(async () => world.close());

  /** A user of the in-process emulator, reached like any X-compatible server at its own address. */
  function serverUser(username: string) {
    const created = world.sandbox.createUser({ username });
    return {
      apiBaseUrl: `${world.url}/sandbox/x`,
      apiKey: created.credentials.api_key,
      apiKeySecret: created.credentials.api_key_secret,
      accessToken: created.credentials.access_token,
      accessTokenSecret: created.credentials.access_token_secret,
      id: created.id,
    };
  }

  it('asks for the description and all four keys of a live account, beside each field', async () => {
    const refused = await admin.post('/accounts').type('form').send({ _csrf: token, intent: 'save', description: '', environment: 'live', apiKey: 'only-one' });
    assert.equal(refused.status, 400);
    assert.match(fieldErrors(fieldBlock(refused.text, 'description'))[0], /give the account a description/);
    assert.deepEqual(fieldErrors(fieldBlock(refused.text, 'apiKey')), []);
    assert.deepEqual(fieldErrors(fieldBlock(refused.text, 'accessTokenSecret')), ['enter the access token secret']);
    assert.equal((await world.services.accounts.list()).length, 0);
  });

  it('tests a login before saving: the screen name and user id are filled in, the keys are not sent back', async () => {
    const user = serverUser('kb_server');
    const form = { _csrf: token, description: 'Server', environment: 'live', ...user };
    const tested = await admin.post('/accounts').type('form').send({ ...form, intent: 'test' });
    assert.equal(tested.status, 200);
    assert.match(tested.text, /<output id="screenName" class="readout">@kb_server<\/output>/);
    assert.match(tested.text, new RegExp(`<output id="xUserId" class="readout">${user.id}</output>`));
    assert.match(tested.text, /Login test passed: logged in as @kb_server\. Enter the keys again to save/);
    for (const secret of [user.apiKey, user.apiKeySecret, user.accessToken, user.accessTokenSecret]) assert.ok(!tested.text.includes(secret));
    assert.equal((await world.services.accounts.list()).length, 0, 'testing saves nothing');

    const answer = await admin.post('/accounts/test-login').set('accept', 'application/json').type('form').send(form);
    assert.deepEqual(answer.body, { ok: true, screenName: 'kb_server', xUserId: user.id });

    const saved = await admin.post('/accounts').type('form').send({ ...form, intent: 'save' });
    assert.equal(saved.status, 303);
    const [account] = await world.services.accounts.list();
    assert.deepEqual([account.environment, account.apiBaseUrl, account.screenName, account.xUserId], ['custom', user.apiBaseUrl, 'kb_server', user.id]);
    assert.match((await admin.get('/accounts')).text, /X-compatible server/);
  });

  it('says in words why a login failed, and stores nothing', async () => {
    const user = serverUser('kb_wrong');
    const form = { _csrf: token, description: 'Wrong', environment: 'live', ...user, accessTokenSecret: 'not-the-secret' };
    const answer = await admin.post('/accounts/test-login').type('form').send(form);
    assert.equal(answer.body.ok, false);
    assert.match(answer.body.error, /^login test failed: .{10,}/);
    const saved = await admin.post('/accounts').type('form').send({ ...form, intent: 'save' });
    assert.equal(saved.status, 400);
    assert.match(saved.text, /<p class="form-error" role="alert">login test failed: /);
    assert.equal((await world.services.accounts.list()).length, 0);
  });

  it('answers a sandbox login test with blank keys by saying what saving does, not with a failure', async () => {
    const form = { _csrf: token, description: 'Sandbox', environment: 'sandbox' };
    const answer = await admin.post('/accounts/test-login').type('form').send(form);
    assert.deepEqual(answer.body, { ok: true, issuedOnSave: 'No keys needed: when you save, the sandbox issues a new user for this account, and its screen name and user id appear here.' });
    const page = await admin.post('/accounts').type('form').send({ ...form, intent: 'test' });
    assert.equal(page.status, 200);
    assert.match(page.text, /<p id="login-result" class="form-note" role="status">No keys needed: when you save, the sandbox issues a new user/);
    assert.ok(!page.text.includes('class="field-error"'), 'nothing is marked wrong');
    assert.equal((await world.services.accounts.list()).length, 0, 'testing saves nothing');
  });

  it('keeps the keys typed into the form after a refused login, and never puts stored keys into the page', async () => {
    const user = serverUser('kb_typed');
    const typed = { apiKey: user.apiKey, apiKeySecret: user.apiKeySecret, accessToken: user.accessToken, accessTokenSecret: 'typed-but-wrong' };
    const form = { _csrf: token, description: 'Typed', environment: 'live', apiBaseUrl: user.apiBaseUrl, ...typed };
    for (const intent of ['save', 'test']) {
      const refused = await admin.post('/accounts').type('form').send({ ...form, intent });
      assert.equal(refused.status, 400, intent);
      assert.match(decode(refused.text), /login test failed: X refused the account's credentials/);
      for (const [field, value] of Object.entries(typed)) {
        assert.match(fieldBlock(refused.text, field), new RegExp(`value="${value}"`), `${intent}: the typed ${field} stays in its input`);
      }
      assert.equal(refused.headers['cache-control'], 'no-store', 'a page with typed keys is not cached');
    }
    const stored = serverUser('kb_stored');
    const added = await admin.post('/accounts').type('form').send({ _csrf: token, intent: 'save', description: 'Stored', environment: 'live', ...stored });
    assert.equal(added.status, 303);
    const edited = await admin.post(added.headers.location).type('form')
      .send({ _csrf: token, intent: 'save', description: 'Stored', environment: 'live', apiBaseUrl: stored.apiBaseUrl, accessTokenSecret: 'new-and-wrong' });
    assert.equal(edited.status, 400);
    assert.match(fieldBlock(edited.text, 'accessTokenSecret'), /value="new-and-wrong"/);
    for (const secret of [stored.apiKey, stored.apiKeySecret, stored.accessToken, stored.accessTokenSecret]) assert.ok(!edited.text.includes(secret), 'no stored key in the page');
  });

  it('refuses an API base URL that is no URL beside the field, at once, naming it; an unreachable one is named too', async () => {
    const form = { _csrf: token, description: 'Bad address', environment: 'live', apiBaseUrl: 'not a url', apiKey: 'k', apiKeySecret: 's', accessToken: 't', accessTokenSecret: 'u' };
    const expected = "API base URL 'not a url' is not a URL; give one like https://api.x.com or http://127.0.0.1:4000";
    const answer = await admin.post('/accounts/test-login').type('form').send(form);
    assert.deepEqual(answer.body, { ok: false, error: expected, field: 'apiBaseUrl' });
    for (const intent of ['test', 'save']) {
      const page = await admin.post('/accounts').type('form').send({ ...form, intent });
      assert.equal(page.status, 400);
      assert.deepEqual(fieldErrors(fieldBlock(page.text, 'apiBaseUrl')), [expected], intent);
    }
    const closed = await new Promise<number>((resolve) => {
      const probe = http.createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const unreachable = await admin.post('/accounts/test-login').type('form').send({ ...form, apiBaseUrl: `http://127.0.0.1:${closed}` });
    assert.equal(unreachable.body.ok, false);
    assert.match(unreachable.body.error, new RegExp(`^login test failed: .+ \\(tried http://127\\.0\\.0\\.1:${closed}\\)$`));
  });

  it('issues a sandbox user for a sandbox account added without keys', async () => {
    for (const expected of ['kb_newsroom', 'kb_newsroom2']) {
      const added = await admin.post('/accounts').type('form').send({ _csrf: token, intent: 'save', description: 'Newsroom', environment: 'sandbox' });
      assert.equal(added.status, 303);
      const page = await admin.get(added.headers.location);
      assert.match(flashText(page.text), new RegExp(`logged in as @${expected} \\(user id \\d+\\)`));
    }
    const half = await admin.post('/accounts').type('form').send({ _csrf: token, intent: 'save', description: 'Half', environment: 'sandbox', apiKey: 'k' });
    assert.equal(half.status, 400);
    assert.match(fieldErrors(fieldBlock(half.text, 'apiKeySecret'))[0], /give all four keys of an existing sandbox user, or none/);
  });

  it('keeps a stored key left blank on edit, and refuses new keys that cannot log in', async () => {
    const user = serverUser('kb_edit');
    const added = await admin.post('/accounts').type('form').send({ _csrf: token, intent: 'save', description: 'Before', environment: 'live', ...user });
    const path = added.headers.location;
    const id = Number(path.split('/').pop());
    const before = await world.services.accounts.credentialsOf(id);
    const renamed = await admin.post(path).type('form').send({ _csrf: token, intent: 'save', description: 'After', environment: 'live', apiBaseUrl: user.apiBaseUrl });
    assert.equal(renamed.status, 303);
    assert.equal((await world.services.accounts.get(id))?.description, 'After');
    assert.deepEqual(await world.services.accounts.credentialsOf(id), before);

    const refused = await admin.post(path).type('form').send({ _csrf: token, intent: 'save', description: 'Broken', environment: 'live', apiBaseUrl: user.apiBaseUrl, accessTokenSecret: 'wrong' });
    assert.equal(refused.status, 400);
    assert.match(refused.text, /login test failed/);
    assert.equal((await world.services.accounts.get(id))?.description, 'After', 'nothing was saved');
    assert.deepEqual(await world.services.accounts.credentialsOf(id), before);

    const tested = await admin.post(path).type('form').send({ _csrf: token, intent: 'test', description: 'After', environment: 'live', apiBaseUrl: user.apiBaseUrl });
    assert.match(tested.text, /Login test passed: logged in as @kb_edit\./);
    assert.notEqual((await world.services.accounts.get(id))?.lastTestedAt, null, 'testing the stored account records the result');
  });

  it('deletes an account only when no integration uses it', async () => {
    const { accountId } = await world.withSandboxIntegration();
    assert.match((await admin.get(`/accounts/${accountId}/delete`)).text, /It is used by integration 1; remove it first/);
    await admin.post(`/accounts/${accountId}/delete`).type('form').send({ _csrf: token });
    assert.match(flashText((await admin.get(`/accounts/${accountId}`)).text), /account 1 is used by integration 1; remove it first/);
    await admin.post('/integrations/1/remove').type('form').send({ _csrf: token });
    assert.equal((await admin.post(`/accounts/${accountId}/delete`).type('form').send({ _csrf: token })).headers.location, '/accounts');
    assert.equal(await world.services.accounts.get(accountId), undefined);
  });

  it('registers stored sandbox accounts again in a fresh sandbox, as after a server restart', async () => {
    const { accountId, credentials } = await world.withSandboxIntegration({ username: 'kb_restart' });
    const fresh = new EmulatorState();
    assert.deepEqual(await restoreSandboxUsers(world.services, fresh), [accountId]);
    assert.equal(fresh.userForToken(credentials.accessToken)?.username, 'kb_restart');
    assert.equal(fresh.consumerSecret(credentials.apiKey), credentials.apiKeySecret);
    assert.deepEqual(await restoreSandboxUsers(world.services, fresh), [], 'a user the sandbox knows is left alone');
  });
});
