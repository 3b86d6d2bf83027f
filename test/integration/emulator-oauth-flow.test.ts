import assert from 'node:assert/strict';
import { startEmulator, type StartedEmulator } from '../../src/emulator/emulator';
import { REQUEST_TOKEN_TTL_MS } from '../../src/emulator/oauth-flow';
import { exchangeVerifier, requestToken, XOAuthStepError, type XAppKeys } from '../../src/twitter/x-oauth-flow';
import { createTwitterApi } from '../../src/twitter/x-client-factory';

const CALLBACK = 'http://127.0.0.1:9/accounts/connect/callback';

/** What a browser does on the authorize page: posts the form, and reads where it is sent. */
async function decide(authorizeUrl: string, form: Record<string, string>): Promise<URL> {
  const page = await fetch(authorizeUrl);
  assert.equal(page.status, 200, await page.text());
  const token = new URL(authorizeUrl).searchParams.get('oauth_token') as string;
  const answer = await fetch(new URL('authorize', authorizeUrl), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ oauth_token: token, ...form }).toString(),
  });
  assert.equal(answer.status, 303, await answer.text());
  return new URL(answer.headers.get('location') as string);
}

describe("the emulator's three-legged OAuth 1.0a flow, through twitter-api-v2", function () {
  this.timeout(20_000);
  let emulator: StartedEmulator;
  let app: XAppKeys;

  beforeEach(async () => {
    emulator = await startEmulator();
    const registered = await (await fetch(`${emulator.url}/_emulator/apps`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).json() as { consumer_key: string; consumer_secret: string };
    app = { consumerKey: registered.consumer_key, consumerSecret: registered.consumer_secret };
  });
  afterEach(() => emulator.close());

  it('approving as an existing user gives a working access token of that user', async () => {
    const user = emulator.state.createUser({ username: 'kb_news' });
    const request = await requestToken(app, emulator.url, CALLBACK);
    assert.match(request.authorizeUrl, new RegExp(`^${emulator.url}/oauth/authorize\\?oauth_token=`));
    const back = await decide(request.authorizeUrl, { user_id: user.id, decision: 'approve' });
    assert.equal(back.origin + back.pathname, CALLBACK);
    assert.equal(back.searchParams.get('oauth_token'), request.token);
    const access = await exchangeVerifier(app, emulator.url, request, back.searchParams.get('oauth_verifier') as string);
    assert.deepEqual([access.userId, access.screenName], [user.id, 'kb_news']);
    assert.notEqual(access.accessToken, user.credentials.access_token, 'a new token for this app, not the user\'s other one');
    const me = await createTwitterApi({ apiKey: app.consumerKey, apiKeySecret: app.consumerSecret, accessToken: access.accessToken, accessTokenSecret: access.accessSecret }, emulator.url).v2.me();
    assert.equal(me.data.username, 'kb_news');
  });

  it('approving as a new user makes that user', async () => {
    const request = await requestToken(app, emulator.url, CALLBACK);
    const back = await decide(request.authorizeUrl, { user_id: '', new_username: 'kb_fresh', decision: 'approve' });
    const access = await exchangeVerifier(app, emulator.url, request, back.searchParams.get('oauth_verifier') as string);
    assert.equal(access.screenName, 'kb_fresh');
    assert.equal(emulator.state.findUser('kb_fresh')?.id, access.userId);
  });

  it('denying sends the browser back with denied=<token>, and the token cannot be exchanged', async () => {
    const request = await requestToken(app, emulator.url, CALLBACK);
    const back = await decide(request.authorizeUrl, { decision: 'deny' });
    assert.equal(back.searchParams.get('denied'), request.token);
    assert.equal(back.searchParams.get('oauth_verifier'), null);
    await assert.rejects(exchangeVerifier(app, emulator.url, request, 'anything'), XOAuthStepError);
  });

  it('a request token is single use: a second exchange is refused', async () => {
    const user = emulator.state.createUser({ username: 'kb_once' });
    const request = await requestToken(app, emulator.url, CALLBACK);
    const back = await decide(request.authorizeUrl, { user_id: user.id, decision: 'approve' });
    const verifier = back.searchParams.get('oauth_verifier') as string;
    await exchangeVerifier(app, emulator.url, request, verifier);
    await assert.rejects(exchangeVerifier(app, emulator.url, request, verifier), /Invalid request token/);
  });

  it('a wrong verifier is refused and uses the request token up', async () => {
    const user = emulator.state.createUser({ username: 'kb_wrong' });
    const request = await requestToken(app, emulator.url, CALLBACK);
    const back = await decide(request.authorizeUrl, { user_id: user.id, decision: 'approve' });
    await assert.rejects(exchangeVerifier(app, emulator.url, request, 'not-the-verifier'), /Invalid oauth_verifier/);
    await assert.rejects(exchangeVerifier(app, emulator.url, request, back.searchParams.get('oauth_verifier') as string), /Invalid request token/);
  });

  it('a request token expires: after 15 minutes the authorize page refuses it', async () => {
    const request = await requestToken(app, emulator.url, CALLBACK);
    emulator.state.changeClock({ advance_ms: REQUEST_TOKEN_TTL_MS + 1000 });
    const page = await fetch(request.authorizeUrl);
    assert.equal(page.status, 400);
    assert.match(await page.text(), /unknown, used or expired/);
  });

  it('a request token call signed with a wrong consumer secret is refused', async () => {
    await assert.rejects(requestToken({ ...app, consumerSecret: 'wrong' }, emulator.url, CALLBACK), /X refused the request token \(X answered 401/);
  });
});
