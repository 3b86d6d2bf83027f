import assert from 'node:assert/strict';
import { describeTable } from '../../src/kb/schema';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { csrfFrom, PASSWORD, WebWorld, type Agent } from '../support/web-world';
import { describeEachDatabase } from '../support/test-env';

type Access = 'admin' | 'write-records' | 'read';

/** Every page and form of the web app, with who may use it (ids refer to the world built below). */
const GET_ROUTES: Array<[string, Access]> = [
  ['/', 'admin'],
  ['/accounts', 'admin'],
  ['/accounts/new', 'admin'],
  ['/accounts/1', 'admin'],
  ['/accounts/1/delete', 'admin'],
  ['/integrations', 'admin'],
  ['/integrations/new', 'admin'],
  ['/integrations/1/edit', 'admin'],
  ['/integrations/1/remove', 'admin'],
  ['/sandbox', 'admin'],
  ['/sandbox/accounts/1', 'admin'],
  ['/users', 'admin'],
  ['/records/articles/new', 'write-records'],
  ['/records/articles/rows/1/edit', 'write-records'],
  ['/records', 'read'],
  ['/records/articles', 'read'],
  ['/records/articles/rows/1', 'read'],
  ['/communications', 'read'],
  ['/me', 'read'],
];

const POST_ROUTES: Array<[string, Access]> = [
  ['/integrations/1/run', 'admin'],
  ['/integrations/1/retry', 'admin'],
  ['/records/articles/rows/1/retry', 'write-records'],
  ['/accounts', 'admin'],
  ['/accounts/test-login', 'admin'],
  ['/accounts/1', 'admin'],
  ['/accounts/1/delete', 'admin'],
  ['/integrations/new', 'admin'],
  ['/integrations/1/edit', 'admin'],
  ['/integrations/1/pause', 'admin'],
  ['/integrations/1/resume', 'admin'],
  ['/integrations/1/remove', 'admin'],
  ['/example-table', 'admin'],
  ['/sandbox/accounts/1/replies', 'admin'],
  ['/users', 'admin'],
  ['/users/1/role', 'admin'],
  ['/users/1/delete', 'admin'],
  ['/records/articles', 'write-records'],
  ['/records/articles/rows/1', 'write-records'],
  ['/me/password', 'read'],
  ['/me/tokens', 'read'],
  ['/me/tokens/1/delete', 'read'],
  ['/logout', 'read'],
];

describeEachDatabase('web app: sign-in, roles, CSRF and secrets', (database) => {
  let world: WebWorld;
  let admin: Agent;
  let credentials: Awaited<ReturnType<WebWorld['withSandboxIntegration']>>['credentials'];

  before(async () => {
    world = await WebWorld.create({ database });
    admin = await world.signIn('ada', 'admin');
    ({ credentials } = await world.withSandboxIntegration());
    await world.services.db('articles').insert({ title: 'First', tweet_text: 'A first article', keep_going: 'Yes' });
    await runPollCycle(world.services.sync);
  });
  after(async () => world.close());

  it('sends anonymous visitors of every page to the sign-in page, and refuses their forms', async () => {
    const anonymous = world.agent();
    for (const [route] of GET_ROUTES) {
      const response = await anonymous.get(route);
      assert.equal(response.status, 303, route);
      assert.match(response.headers.location, /^\/login(\?next=|$)/, route);
    }
    const token = csrfFrom((await anonymous.get('/login')).text);
    for (const [route] of POST_ROUTES.filter(([route]) => route !== '/logout')) {
      const response = await anonymous.post(route).type('form').send({ _csrf: token });
      assert.equal(response.status, 303, route);
      assert.equal(response.headers.location, '/login', route);
    }
    // The sign-in page returns to where the visitor was going, and only to a path of this site.
    const login = await anonymous.get('/login?next=%2F%2Fevil.example%2F');
    assert.match(login.text, /name="next" value=""/);
  });

  it('lets each role reach exactly its pages: a viewer cannot reach admin pages or write records', async () => {
    const editor = await world.signIn('edith', 'editor');
    const viewer = await world.signIn('vic', 'viewer');
    for (const [role, agent] of [['editor', editor], ['viewer', viewer]] as const) {
      const token = await world.csrf(agent);
      for (const [route, access] of GET_ROUTES) {
        const response = await agent.get(route);
        const allowed = access === 'read' || (access === 'write-records' && role === 'editor');
        if (route === '/') assert.equal(response.headers.location, '/records', `${role} ${route} goes to the records`);
        else if (route === '/integrations') assert.equal(response.status, 403, `${role} GET ${route}`);
        else assert.equal(response.status, allowed ? 200 : 403, `${role} GET ${route}`);
        if (!allowed && route !== '/' && route !== '/integrations') assert.match(response.text, /Only admins|Your role does not allow this/);
      }
      for (const [route, access] of POST_ROUTES.filter(([, access]) => access !== 'read')) {
        const response = await agent.post(route).type('form').send({ _csrf: token });
        const allowed = access === 'write-records' && role === 'editor';
        if (!allowed) assert.equal(response.status, 403, `${role} POST ${route}`);
      }
    }
    const adminToken = await world.csrf(admin);
    for (const [route] of GET_ROUTES) {
      const response = await admin.get(route);
      // The integrations are listed on the dashboard; the only sandbox account's timeline is the sandbox page.
      const redirects: Record<string, string> = { '/integrations': '/', '/sandbox': '/sandbox/accounts/1' };
      if (redirects[route]) assert.equal(response.headers.location, redirects[route], route);
      else assert.equal(response.status, 200, `admin GET ${route}`);
    }
    assert.equal((await admin.post('/integrations/1/pause').type('form').send({ _csrf: adminToken })).status, 303);
  });

  it('refuses every form posted without the CSRF token, or with another session\'s token', async () => {
    const other = await world.signIn('otto', 'admin');
    const othersToken = await world.csrf(other);
    for (const [route] of POST_ROUTES) {
      const missing = await admin.post(route).type('form').send({ description: 'x' });
      assert.equal(missing.status, 403, `POST ${route} without a token`);
      assert.match(missing.text, /did not come from this site/);
      assert.equal((await admin.post(route).type('form').send({ _csrf: othersToken })).status, 403, `POST ${route} with another session's token`);
    }
    const anonymous = world.agent();
    assert.equal((await anonymous.post('/login').type('form').send({ username: 'ada', password: PASSWORD })).status, 403);
  });

  it('never shows a stored secret on any page, in the login-test answer or in the log', async () => {
    const token = await world.csrf(admin);
    const pages = [...GET_ROUTES.map(([route]) => route), '/accounts/1', '/sandbox/accounts/1', '/communications?direction=out'];
    const answers = await Promise.all(pages.map((route) => admin.get(route)));
    answers.push(await admin.post('/accounts/test-login').type('form').send({ _csrf: token, accountId: '1', description: 'Web test account', environment: 'sandbox' }));
    answers.push(await admin.post('/accounts/1').type('form').send({ _csrf: token, intent: 'test', description: 'Web test account', environment: 'sandbox' }));
    answers.push(await admin.post('/accounts/1').type('form').send({ _csrf: token, intent: 'save', description: '', environment: 'sandbox' }));
    const stored = await world.services.db('kbts_accounts').first();
    for (const secret of [...Object.values(credentials), stored.api_key_sealed, stored.access_token_secret_sealed]) {
      for (const [index, answer] of answers.entries()) assert.ok(!answer.text.includes(secret), `a secret appears in answer ${index}`);
      assert.ok(!world.logLines.some((line) => line.includes(secret)), 'a secret appears in the log');
    }
    const edit = await admin.get('/accounts/1');
    assert.match(edit.text, new RegExp(`stored: ••••${credentials.accessTokenSecret.slice(-4)}`), 'the last 4 characters are shown');
  });

  it('sets a strict Content-Security-Policy and an httpOnly, SameSite session cookie', async () => {
    const anonymous = world.agent();
    const login = await anonymous.get('/login');
    const csp = login.headers['content-security-policy'];
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.doesNotMatch(login.text, /<script(?![^>]*\bsrc=)/, 'no inline scripts');
    const signIn = await anonymous.post('/login').type('form').send({ _csrf: csrfFrom(login.text), username: 'ada', password: PASSWORD });
    const cookie = (signIn.headers['set-cookie'] as unknown as string[]).find((line) => line.startsWith('kbts_session='));
    assert.ok(cookie);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Lax/);
    assert.equal((await world.services.db('kbts_sessions').where('id_hash', cookie.split(/[=.;]/)[1])).length, 0, 'only the token\'s hash is stored');
  });

  it('ends the session at sign-out, so its cookie no longer opens pages', async () => {
    const agent = await world.signIn('sam', 'viewer');
    assert.equal((await agent.get('/records')).status, 200);
    const out = await agent.post('/logout').type('form').send({ _csrf: await world.csrf(agent) });
    assert.equal(out.headers.location, '/login');
    assert.equal((await agent.get('/records')).status, 303);
  });
});

describeEachDatabase('web app: first run', (database) => {
  let world: WebWorld;
  beforeEach(async () => { world = await WebWorld.create({ database }); });
  afterEach(async () => world.close());

  it('leads every page to the first-run form, which creates the admin and the example table, then closes', async () => {
    const agent = world.agent();
    for (const route of ['/', '/login', '/records', '/accounts/new']) {
      const response = await agent.get(route);
      assert.equal(response.headers.location, '/setup', route);
    }
    const form = await agent.get('/setup');
    assert.match(form.text, /Create an example table/);
    const tooShort = await agent.post('/setup').type('form').send({ _csrf: csrfFrom(form.text), username: 'ada', password: 'short', passwordRepeat: 'short' });
    assert.equal(tooShort.status, 400);
    assert.match(tooShort.text, /class="field-error">the password must be at least 10 characters long/);
    const done = await agent.post('/setup').type('form').send({ _csrf: csrfFrom(form.text), username: 'ada', password: PASSWORD, passwordRepeat: PASSWORD, exampleTable: 'on' });
    assert.equal(done.status, 303);
    const dashboard = await agent.get('/');
    assert.equal(dashboard.status, 200);
    assert.match(dashboard.text, /example table &#39;articles&#39; is ready/);
    assert.equal((await world.services.users.findByUsername('ada'))?.role, 'admin');
    const table = await describeTable(world.services.db, 'articles');
    assert.deepEqual(table?.columns.map((column) => column.name), ['id', 'title', 'tweet_text', 'replies', 'keep_going']);
    assert.equal((await world.agent().get('/setup')).headers.location, '/login', 'the first-run form is gone once an admin exists');
  });
});
