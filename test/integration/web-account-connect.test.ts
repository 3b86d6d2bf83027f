import assert from 'node:assert/strict';
import { EmulatorState } from '../../src/emulator/emulator';
import { restoreSandboxUsers } from '../../src/setup/sandbox-setup';
import { describeEachDatabase } from '../support/test-env';
import { WebWorld, type Agent } from '../support/web-world';

/** Starts a sandbox connect and approves it on the sandbox's authorize page; answers the callback path. */
async function approveInSandbox(admin: Agent, csrf: string, form: Record<string, string>): Promise<string> {
  const started = await admin.post('/accounts/connect').type('form').send({ _csrf: csrf, target: 'sandbox' });
  assert.equal(started.status, 303, started.text);
  const authorize = started.headers.location as string;
  assert.match(authorize, /^\/sandbox\/x\/oauth\/authorize\?oauth_token=/);
  const page = await admin.get(authorize);
  assert.equal(page.status, 200);
  const token = new URL(authorize, 'http://x').searchParams.get('oauth_token') as string;
  const decided = await admin.post('/sandbox/x/oauth/authorize').type('form').send({ oauth_token: token, ...form });
  assert.equal(decided.status, 303, decided.text);
  const back = new URL(decided.headers.location as string);
  assert.equal(back.pathname, '/accounts/connect/callback');
  return back.pathname + back.search;
}

describeEachDatabase('Connect an account with X: the callback\'s bad input', (database) => {
  let world: WebWorld;
  let admin: Agent;
  let csrf: string;

  beforeEach(async () => {
    world = await WebWorld.create({ database });
    admin = await world.signIn('admin', 'admin');
    csrf = await world.csrf(admin, '/accounts');
  });
  afterEach(() => world.close());

  it('a sandbox connect adds the account with its login test passed; the same callback again is refused and adds nothing', async () => {
    const callback = await approveInSandbox(admin, csrf, { user_id: '', new_username: 'kb_connected', decision: 'approve' });
    const done = await admin.get(callback);
    assert.equal(done.status, 303, done.text);
    const [account] = await world.services.accounts.list();
    assert.equal(done.headers.location, `/accounts/${account.id}`);
    assert.deepEqual([account.environment, account.screenName, account.lastTestError], ['sandbox', 'kb_connected', null]);
    assert.ok(account.lastTestedAt, 'the login test ran');

    const replay = await admin.get(callback);
    assert.equal(replay.status, 400);
    assert.match(replay.text, /unknown or was already used \(each one works once\); nothing was changed/);
    assert.equal((await world.services.accounts.list()).length, 1);
  });

  it('a sandbox account connected with X logs in again after the sandbox is restored from the database', async () => {
    await admin.get(await approveInSandbox(admin, csrf, { user_id: '', new_username: 'kb_restart', decision: 'approve' }));
    const [account] = await world.services.accounts.list();
    const keys = await world.services.accounts.credentialsOf(account.id);
    const restarted = new EmulatorState();
    restarted.addKnownUser({ id: account.xUserId as string, username: 'kb_restart', name: 'kb_restart', description: '', createdAtMs: 0, revoked: false, access: 'read-write' });
    await restoreSandboxUsers({ accounts: world.services.accounts, logger: world.services.logger }, restarted);
    assert.equal(restarted.tokenSecret(keys.apiKey, keys.accessToken), keys.accessTokenSecret, 'the connected token works on the restored sandbox');
  });

  it('connecting the same X user again renews that account\'s keys instead of adding one', async () => {
    const user = world.sandbox.createUser({ username: 'kb_again' });
    await admin.get(await approveInSandbox(admin, csrf, { user_id: user.id, decision: 'approve' }));
    const [first] = await world.services.accounts.list();
    const keysBefore = await world.services.accounts.credentialsOf(first.id);
    const again = await admin.get(await approveInSandbox(admin, csrf, { user_id: user.id, decision: 'approve' }));
    assert.equal(again.headers.location, `/accounts/${first.id}`);
    const accounts = await world.services.accounts.list();
    assert.equal(accounts.length, 1);
    assert.notEqual((await world.services.accounts.credentialsOf(first.id)).accessToken, keysBefore.accessToken);
  });

  it('a denied authorization says so on the accounts page and changes nothing', async () => {
    const started = await admin.post('/accounts/connect').type('form').send({ _csrf: csrf, target: 'sandbox' });
    const token = new URL(started.headers.location as string, 'http://x').searchParams.get('oauth_token') as string;
    const denied = await admin.post('/sandbox/x/oauth/authorize').type('form').send({ oauth_token: token, decision: 'deny' });
    const back = new URL(denied.headers.location as string);
    assert.equal(back.searchParams.get('denied'), token);
    assert.equal(back.searchParams.get('oauth_verifier'), null);
    const answer = await admin.get(back.pathname + back.search);
    assert.equal(answer.headers.location, '/accounts');
    assert.match((await admin.get('/accounts')).text, /X authorization was denied; nothing was changed\./);
    assert.equal((await world.services.accounts.list()).length, 0);
  });

  it('a callback with an unknown token, or one started in another session, is refused in words', async () => {
    const unknown = await admin.get('/accounts/connect/callback?oauth_token=made-up&oauth_verifier=whatever');
    assert.equal(unknown.status, 400);
    assert.match(unknown.text, /this X authorization is unknown or was already used/);

    const callback = await approveInSandbox(admin, csrf, { user_id: '', new_username: 'kb_stolen', decision: 'approve' });
    const otherAdmin = await world.signIn('admin2', 'admin');
    const foreign = await otherAdmin.get(callback);
    assert.equal(foreign.status, 400);
    assert.match(foreign.text, /started in another browser session; nothing was changed/);
    assert.equal((await world.services.accounts.list()).length, 0);
    // The rightful session can still finish it.
    assert.equal((await admin.get(callback)).status, 303);
    assert.equal((await world.services.accounts.list()).length, 1);
  });

  it('a callback with a wrong verifier is refused with X\'s reason, and the token is used up', async () => {
    const callback = await approveInSandbox(admin, csrf, { user_id: '', new_username: 'kb_wrongv', decision: 'approve' });
    const wrong = callback.replace(/oauth_verifier=[^&]+/, 'oauth_verifier=not-it');
    const answer = await admin.get(wrong);
    assert.equal(answer.status, 400);
    assert.match(answer.text, /X refused to exchange the verifier for an access token \(X answered 401: Error processing your OAuth request: Invalid oauth_verifier parameter\); nothing was changed/);
    assert.equal((await admin.get(callback)).status, 400, 'the right verifier after a wrong one finds the token used');
    assert.equal((await world.services.accounts.list()).length, 0);
  });

  it('a callback after the connect expired is refused and adds nothing', async () => {
    const callback = await approveInSandbox(admin, csrf, { user_id: '', new_username: 'kb_late', decision: 'approve' });
    // As if the admin came back after the 15 minutes: the stored request's end is moved into the past.
    await world.services.db('kbts_oauth_requests').update({ expires_at: '2000-01-01T00:00:00.000Z' });
    const answer = await admin.get(callback);
    assert.equal(answer.status, 400);
    assert.match(answer.text, /this X authorization expired \(it lasts 15 minutes\); nothing was changed/);
    assert.equal((await world.services.accounts.list()).length, 0);
  });

  it('without the X app\'s keys the connect button says what to set first, and a connect is refused', async () => {
    const page = await admin.get('/accounts');
    assert.match(page.text, /first enter your X app's consumer key and secret/);
    const started = await admin.post('/accounts/connect').type('form').send({ _csrf: csrf, target: 'x' });
    assert.equal(started.status, 400);
    assert.match(started.text, /set the X app&#39;s consumer key and secret first/);
  });

  it('the X app\'s keys are stored sealed and never sent back to the browser', async () => {
    const saved = await admin.post('/accounts/x-app').type('form').send({ _csrf: csrf, consumerKey: 'CONSUMERKEY123456', consumerSecret: 'CONSUMERSECRET987654', apiBaseUrl: world.env.emulator.url });
    assert.equal(saved.status, 303, saved.text);
    for (const page of ['/accounts', '/accounts/x-app']) {
      const html = (await admin.get(page)).text;
      assert.doesNotMatch(html, /CONSUMERKEY123456|CONSUMERSECRET987654/);
    }
    const row = await world.services.db('kbts_x_app').first();
    assert.doesNotMatch(JSON.stringify(row), /CONSUMERKEY123456|CONSUMERSECRET987654/);
    assert.doesNotMatch(world.logLines.join('\n'), /CONSUMERSECRET987654/);
    const missing = await admin.post('/accounts/x-app').type('form').send({ _csrf: await world.csrf(admin, '/accounts/x-app'), consumerKey: '', consumerSecret: '' });
    assert.equal(missing.status, 303, 'blank fields keep the stored keys');
  });

  it('an X app whose keys X does not know is refused at the start with X\'s reason, naming the callback to allow', async () => {
    await admin.post('/accounts/x-app').type('form').send({ _csrf: csrf, consumerKey: 'not-registered', consumerSecret: 'whatever', apiBaseUrl: world.env.emulator.url });
    const started = await admin.post('/accounts/connect').type('form').send({ _csrf: csrf, target: 'x' });
    assert.equal(started.status, 400);
    assert.match(started.text, /X refused the request token \(X answered 401: unknown consumer key\); check the X app&#39;s consumer key and secret and that http:\/\/127\.0\.0\.1:[0-9]+\/accounts\/connect\/callback is an allowed callback URL; nothing was changed/);
    assert.equal(await world.services.db('kbts_oauth_requests').count({ n: '*' }).first().then((row) => Number(row?.n)), 0);
  });

  it('an editor cannot start a connect, see the X app or finish a callback', async () => {
    const editor = await world.signIn('editor', 'editor');
    const editorCsrf = await world.csrf(editor);
    assert.equal((await editor.post('/accounts/connect').type('form').send({ _csrf: editorCsrf, target: 'sandbox' })).status, 403);
    assert.equal((await editor.get('/accounts/x-app')).status, 403);
    assert.equal((await editor.get('/accounts/connect/callback?oauth_token=a&oauth_verifier=b')).status, 403);
  });
});
