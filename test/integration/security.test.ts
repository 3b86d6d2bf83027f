import assert from 'node:assert/strict';
import fs from 'node:fs';
import type express from 'express';
import supertest from 'supertest';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { apiRoutes } from '../../src/web/routes/api';
import { describeEachDatabase } from '../support/test-env';
import { csrfFrom, PASSWORD, WebWorld, type Agent } from '../support/web-world';

interface Route { method: 'get' | 'post'; path: string }

/** Every route the app's router knows, read from the router itself (nested routers included). */
type RouterLayer = { route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: unknown[] }; slash?: boolean; rawPath?: unknown };

function routesOf(stack: RouterLayer[], prefix = ''): Route[] {
  const routes: Route[] = [];
  for (const layer of stack) {
    if (layer.route) {
      for (const method of Object.keys(layer.route.methods)) {
        if (method === 'get' || method === 'post') routes.push({ method, path: prefix + layer.route.path });
      }
    } else if (layer.handle?.stack) {
      const mountedAt = !layer.slash && typeof layer.rawPath === 'string' ? layer.rawPath : '';
      routes.push(...routesOf(layer.handle.stack as RouterLayer[], prefix + mountedAt));
    }
  }
  return routes;
}

// Mounted elsewhere with their own authentication: the JSON API (tokens, checked below), the
// sandbox's X API (OAuth 1.0a, checked by the emulator's tests) and X's webhook deliveries (X's
// signature, checked by webhooks.test.ts).
const isPage = (route: Route) => !route.path.startsWith('/api/') && !route.path.startsWith('/sandbox/x') && !route.path.startsWith('/webhooks/x/');

// Ids of the world built below stand in for the route parameters.
const concrete = (path: string) => path.replace(':table', 'articles').replace(/:key|:id/g, '1');

// Routes open to everyone: signing in, the first-run form (closed once a user exists), health;
// /metrics asks for its own bearer token (operations-metrics.test.ts).
const PUBLIC = new Set(['get /login', 'post /login', 'get /setup', 'post /setup', 'get /healthz', 'get /metrics']);
// What a viewer may do; an editor may also write records; everything else is an admin's.
const VIEWER = [/^get \/records/, /^get \/communications$/, /^get \/live\/(communications|records\/)/, /^get \/me$/, /^post \/me\//, /^post \/logout$/];
const EDITOR = [/^get \/records\/:table\/new$/, /^get \/records\/:table\/rows\/:key\/edit$/, /^post \/records\//];

describeEachDatabase('security checks over every route of the web app', (database) => {
  let world: WebWorld;
  let admin: Agent;
  let routes: Route[];
  let credentials: Awaited<ReturnType<WebWorld['withSandboxIntegration']>>['credentials'];

  before(async () => {
    world = await WebWorld.create({ database });
    admin = await world.signIn('root', 'admin');
    ({ credentials } = await world.withSandboxIntegration());
    await world.services.db('articles').insert({ title: 'First', tweet_text: 'A first article', keep_going: 'Yes' });
    await runPollCycle(world.services.sync);
    const app = world.server.listeners('request')[0] as express.Express & { router: { stack: [] } };
    routes = routesOf(app.router.stack).filter(isPage);
  });
  after(async () => world.close());

  it('finds the routes in the router (the checks below cannot pass on an empty list)', () => {
    assert.ok(routes.length >= 40, `${routes.length} routes`);
    for (const known of ['get /records/:table/rows/:key', 'post /integrations/:id/run', 'post /accounts/test-login']) {
      assert.ok(routes.some((route) => `${route.method} ${route.path}` === known), known);
    }
  });

  it('sends anonymous visitors of every non-public route to sign in, for pages and forms alike', async () => {
    const anonymous = world.agent();
    const token = csrfFrom((await anonymous.get('/login')).text);
    for (const route of routes.filter((r) => !PUBLIC.has(`${r.method} ${r.path}`))) {
      const response = route.method === 'get'
        ? await anonymous.get(concrete(route.path))
        : await anonymous.post(concrete(route.path)).type('form').send({ _csrf: token });
      assert.equal(response.status, 303, `${route.method} ${route.path}`);
      assert.match(response.headers.location, /^\/login/, `${route.method} ${route.path}`);
    }
  });

  it('refuses under-privileged users on every route beyond their role', async () => {
    const viewer = await world.signIn('vera', 'viewer');
    const editor = await world.signIn('eddie', 'editor');
    for (const [role, agent, allowed] of [['viewer', viewer, VIEWER], ['editor', editor, [...VIEWER, ...EDITOR]]] as const) {
      const token = await world.csrf(agent);
      for (const route of routes.filter((r) => !PUBLIC.has(`${r.method} ${r.path}`))) {
        const key = `${route.method} ${route.path}`;
        if (allowed.some((pattern) => pattern.test(key)) || key === 'get /') continue;
        const response = route.method === 'get'
          ? await agent.get(concrete(route.path))
          : await agent.post(concrete(route.path)).type('form').send({ _csrf: token });
        assert.equal(response.status, 403, `${role} ${key}`);
      }
    }
  });

  it('refuses every form posted without a CSRF token', async () => {
    for (const route of routes.filter((r) => r.method === 'post')) {
      const response = await admin.post(concrete(route.path)).type('form').send({ description: 'x' });
      assert.equal(response.status, 403, route.path);
    }
  });

  it('requires a token on every route of the JSON API', async () => {
    const api = routesOf((apiRoutes(world.services) as unknown as { stack: [] }).stack, '/api/v1');
    assert.ok(api.length >= 4);
    const anonymous = world.agent();
    for (const route of api) {
      const response = route.method === 'get' ? await anonymous.get(concrete(route.path)) : await anonymous.post(concrete(route.path)).send({});
      assert.equal(response.status, 401, `${route.method} ${route.path}`);
    }
  });

  it('keeps the stored X secrets out of every page, every log line at every level, and the raw database file', async () => {
    const token = await world.csrf(admin);
    // Work that writes log lines: a poll that X refuses (a warning), run from the dashboard, and a
    // failing login test.
    world.sandbox.revokeUser('kb_web');
    await admin.post('/integrations/1/run').type('form').send({ _csrf: token });
    world.sandbox.restoreUser('kb_web');
    await admin.post('/accounts/test-login').type('form').send({
      _csrf: token, description: 'bad', environment: 'live', apiBaseUrl: world.env.emulator.url,
      apiKey: credentials.apiKey, apiKeySecret: 'wrong', accessToken: credentials.accessToken, accessTokenSecret: credentials.accessTokenSecret,
    });
    const pages = routes.filter((r) => r.method === 'get').map((r) => concrete(r.path));
    const answers = await Promise.all(pages.map((page) => admin.get(page)));
    const secrets = Object.values(credentials);
    for (const secret of secrets) {
      for (const [index, answer] of answers.entries()) assert.ok(!answer.text.includes(secret), `a secret in ${pages[index]}`);
      // The world logs at debug, the lowest level, so every level's lines are here.
      assert.ok(world.logLines.length > 0);
      assert.ok(!world.logLines.some((line) => line.includes(secret)), 'a secret in the log');
    }
    if (database !== 'sqlite') return;
    await world.services.db.raw('PRAGMA wal_checkpoint(FULL)');
    const raw = Buffer.concat([world.env.dbFile, `${world.env.dbFile}-wal`].filter((file) => fs.existsSync(file)).map((file) => fs.readFileSync(file)));
    for (const secret of secrets) assert.equal(raw.indexOf(secret), -1, 'a secret in the clear in the database file');
  });

  it('keeps secrets out of the command line\'s output and logs at debug level', async () => {
    const user = await world.env.createXUser('kb_cli_secret');
    const result = await world.env.cli(['--json', 'account', 'add', '--description', 'cli', '--api-base-url', world.env.emulator.url],
      { ...world.env.credentialsEnv(user), LOG_LEVEL: 'debug' });
    assert.equal(result.code, 0, result.stderr);
    const polled = await world.env.cli(['--json', 'poll', '--once'], { LOG_LEVEL: 'debug' });
    for (const secret of Object.values(user.credentials)) {
      for (const output of [result.stdout, result.stderr, polled.stdout, polled.stderr]) assert.ok(!output.includes(secret));
    }
  });

  it('answers 404 on every table route for the product\'s own tables under any spelling, for every role, and never 500', async () => {
    const editor = await world.signIn('eddie', 'editor');
    const tableRoutes = routes.filter((route) => route.path.includes(':table'));
    assert.ok(tableRoutes.length >= 6, `${tableRoutes.length} table routes`);
    const names = ['kbts_users', 'KBTS_Users', 'main.kbts_users', 'public.kbts_users', '"kbts_users"', 'kbts_accounts', 'articles as zz', 'sales.2024', '../../etc/passwd', 'what?', 'x'.repeat(300)];
    for (const agent of [admin, editor]) {
      const token = await world.csrf(agent);
      for (const route of tableRoutes) {
        for (const name of names) {
          const path = concrete(route.path).replace('/articles', `/${encodeURIComponent(name)}`);
          const response = route.method === 'get' ? await agent.get(path) : await agent.post(path).type('form').send({ _csrf: token, 'field:role': 'admin', 'field:username': 'x' });
          assert.equal(response.status, 404, `${route.method} ${path}`);
          assert.ok(!/scrypt\$/.test(response.text));
        }
      }
    }
    const users = await world.services.users.list();
    assert.ok(users.every((user) => user.role === 'admin' ? user.username === 'root' : true), 'no one was made admin');
  });

  it('refuses a session cookie whose signature was changed or left off', async () => {
    const agent = world.agent();
    const page = await agent.get('/login');
    const signIn = await agent.post('/login').type('form').send({ _csrf: csrfFrom(page.text), username: 'root', password: PASSWORD });
    const cookie = (signIn.headers['set-cookie'] as unknown as string[]).find((line) => line.startsWith('kbts_session='))!.split(';')[0];
    const value = decodeURIComponent(cookie.slice('kbts_session='.length));
    const [token, signature] = value.split('.');
    assert.equal((await supertest(world.server).get('/me').set('Cookie', cookie)).status, 200, 'the cookie as issued opens the page');
    const flipped = `${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`;
    for (const forged of [token, `${token}.`, `${token}.${flipped}`, `${token}x.${signature}`]) {
      assert.equal((await supertest(world.server).get('/me').set('Cookie', `kbts_session=${encodeURIComponent(forged)}`)).status, 303, forged);
    }
  });

  it('issues a new random session at sign-in: an identifier planted before it opens nothing', async () => {
    // Before sign-in the only identifier is the CSRF cookie; an attacker may plant one of their choosing.
    const planted = 'kbts_csrf=attacker-chosen-value-0123456789';
    const page = await supertest(world.server).get('/login').set('Cookie', planted);
    const cookies = [planted, ...((page.headers['set-cookie'] as unknown as string[] | undefined) ?? []).map((line) => line.split(';')[0])];
    const signIn = await supertest(world.server).post('/login').set('Cookie', cookies.join('; ')).type('form')
      .send({ _csrf: csrfFrom(page.text), username: 'root', password: PASSWORD });
    assert.equal(signIn.status, 303);
    const issued = (signIn.headers['set-cookie'] as unknown as string[]).find((line) => line.startsWith('kbts_session='))!.split(';')[0];
    assert.ok(!issued.includes('attacker-chosen-value'), 'the session is not derived from the planted value');
    const withPlantedOnly = await supertest(world.server).get('/me').set('Cookie', planted);
    assert.equal(withPlantedOnly.status, 303, 'the planted value alone is not signed in');

    // Every sign-in gets an id of its own, never one handed out before.
    const again = await supertest(world.server).post('/login').set('Cookie', cookies.join('; ')).type('form')
      .send({ _csrf: csrfFrom(page.text), username: 'root', password: PASSWORD });
    const second = (again.headers['set-cookie'] as unknown as string[]).find((line) => line.startsWith('kbts_session='))!.split(';')[0];
    assert.notEqual(second, issued);
  });
});
