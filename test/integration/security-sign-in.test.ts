import assert from 'node:assert/strict';
import http from 'node:http';
import supertest from 'supertest';
import { buildServices } from '../../src/app';
import { loadConfig, parseTrustProxy } from '../../src/config';
import { createLogger } from '../../src/lib/logger';
import { verifyPassword } from '../../src/lib/password';
import { createWebApp } from '../../src/web/create-web-app';
import { LoginLimiter, type LoginLimits } from '../../src/store/login-limits';
import { describeEachDatabase } from '../support/test-env';
import { csrfFrom, PASSWORD, WebWorld } from '../support/web-world';

/** Sign-in limits of issue 10, findings 2 and 3: per username and address, counted first, in the database. */
describeEachDatabase('security: the sign-in limit stops guessers, not users', (database) => {
  let world: WebWorld;
  let checks: number;
  const limits: LoginLimits = { freePerPair: 3, freePerAddress: 8, windowSeconds: 900, firstDelaySeconds: 1, maxDelaySeconds: 1 };

  beforeEach(async () => {
    checks = 0;
    world = await WebWorld.create({
      database,
      env: { TRUST_PROXY: 'loopback' },
      web: (services) => ({
        loginLimiter: new LoginLimiter(services.db, limits),
        checkPassword: (password, hash) => { checks++; return verifyPassword(password, hash); },
      }),
    });
    await world.createUser('admin', 'admin');
    await world.createUser('viewer1', 'viewer');
  });
  afterEach(async () => world.close());

  /** One sign-in from a client address (the proxy's X-Forwarded-For), with a fresh form. */
  async function signIn(username: string, password: string, from = '203.0.113.7', server: http.Server = world.server) {
    const agent = supertest.agent(server);
    const form = await agent.get('/login').set('X-Forwarded-For', from);
    return agent.post('/login').set('X-Forwarded-For', from).type('form').send({ _csrf: csrfFrom(form.text), username, password });
  }

  it('delays the guessed name from the guessing address only; other users there and the same user elsewhere sign in at once', async () => {
    for (let attempt = 1; attempt <= limits.freePerPair; attempt++) assert.equal((await signIn('admin', `wrong ${attempt}`)).status, 401);
    // The first attempt past the free ones is checked (and fails); it starts the delay.
    assert.equal((await signIn('admin', 'wrong again')).status, 401);
    const delayed = await signIn('admin', PASSWORD);
    assert.equal(delayed.status, 429);
    assert.match(delayed.text, /Too many failed sign-ins for this name from your address\. Wait 1 second\(s\)/);
    assert.ok(Number(delayed.headers['retry-after']) <= limits.maxDelaySeconds, 'the wait is bounded');

    assert.equal((await signIn('viewer1', PASSWORD)).status, 303, 'another user at the same address is not held up');
    assert.equal((await signIn('admin', PASSWORD, '198.51.100.20')).status, 303, 'the same user from another address is not held up');

    // The right password gets through once the bounded delay has passed.
    await new Promise((resolve) => setTimeout(resolve, Number(delayed.headers['retry-after']) * 1000 + 300));
    assert.equal((await signIn('admin', PASSWORD)).status, 303);
    // …and the success forgets this name's failures from this address.
    assert.equal((await signIn('admin', 'a typo')).status, 401);
  });

  it('limits an address that sprays many names more widely, and keeps no address or name in the clear', async () => {
    for (let attempt = 1; attempt <= limits.freePerAddress; attempt++) assert.equal((await signIn(`name${attempt}`, 'guess', '192.0.2.50')).status, 401);
    assert.equal((await signIn('name-next', 'guess', '192.0.2.50')).status, 401, 'the first past the address limit is checked and starts the delay');
    assert.equal((await signIn('another', 'guess', '192.0.2.50')).status, 429);
    assert.equal((await signIn('viewer1', PASSWORD, '192.0.2.51')).status, 303, 'a neighbouring address is not held up');
    const stored = JSON.stringify(await world.services.db('kbts_login_limits').select());
    for (const clear of ['192.0.2.50', 'name1', 'admin']) assert.ok(!stored.includes(clear), clear);
  });

  it('lets a browser that signed in as the user before straight in, however long the guessing at its address goes on', async () => {
    const known = supertest.agent(world.server);
    const first = await known.get('/login').set('X-Forwarded-For', '203.0.113.7');
    assert.equal((await known.post('/login').set('X-Forwarded-For', '203.0.113.7').type('form')
      .send({ _csrf: csrfFrom(first.text), username: 'admin', password: PASSWORD })).status, 303);
    await known.post('/logout').set('X-Forwarded-For', '203.0.113.7').type('form').send({ _csrf: await world.csrf(known) });
    // A guesser at the same address uses up the name's and the address's free attempts.
    for (let attempt = 1; attempt <= limits.freePerAddress + 2; attempt++) await signIn(attempt % 2 ? 'admin' : `other${attempt}`, 'guess');
    assert.equal((await signIn('admin', PASSWORD)).status, 429, 'a new browser at that address waits');
    const form = await known.get('/login').set('X-Forwarded-For', '203.0.113.7');
    const back = await known.post('/login').set('X-Forwarded-For', '203.0.113.7').type('form').send({ _csrf: csrfFrom(form.text), username: 'admin', password: PASSWORD });
    assert.equal(back.status, 303, 'the known browser does not');
    // A forged cookie is nothing. (The guess just before holds the delay's gate for this name.)
    const forged = supertest.agent(world.server);
    const page = await forged.get('/login').set('X-Forwarded-For', '203.0.113.7');
    await signIn('admin', 'guess');
    const answer = await forged.post('/login').set('X-Forwarded-For', '203.0.113.7').set('Cookie', 'kbts_device=abc%3Adef.forged').type('form')
      .send({ _csrf: csrfFrom(page.text), username: 'admin', password: PASSWORD });
    assert.equal(answer.status, 429);
  });

  it('shares the counters with every worker on the database', async () => {
    const other = await buildServices(loadConfig({ ...world.env.env, TRUST_PROXY: 'loopback' }), { logger: createLogger('silent', () => undefined) });
    const server = http.createServer(createWebApp(other, { loginLimiter: new LoginLimiter(other.db, limits) }));
    try {
      for (let attempt = 1; attempt <= limits.freePerPair + 1; attempt++) assert.equal((await signIn('admin', `wrong ${attempt}`)).status, 401);
      assert.equal((await signIn('admin', PASSWORD, '203.0.113.7', server)).status, 429, 'the other worker sees the failures');
    } finally {
      server.closeAllConnections();
      await other.close();
    }
  });

  it('behind the proxy, marks the session cookie Secure when the proxy says the request came over HTTPS', async () => {
    const agent = supertest.agent(world.server);
    const form = await agent.get('/login');
    const overHttps = await agent.post('/login').set('X-Forwarded-Proto', 'https').type('form').send({ _csrf: csrfFrom(form.text), username: 'viewer1', password: PASSWORD });
    assert.equal(overHttps.status, 303);
    const secure = (overHttps.headers['set-cookie'] as unknown as string[]).find((line) => line.startsWith('kbts_session='))!;
    assert.match(secure, /; Secure/);
    const plain = await signIn('viewer1', PASSWORD);
    const notSecure = (plain.headers['set-cookie'] as unknown as string[]).find((line) => line.startsWith('kbts_session='))!;
    assert.doesNotMatch(notSecure, /Secure/);
  });
});

describeEachDatabase('security: the sign-in limit cannot be raced', (database) => {
  let world: WebWorld;
  let checks = 0;
  // Delays longer than the test, so every password check it sees is one the limit let through.
  const raceLimits: LoginLimits = { freePerPair: 5, freePerAddress: 50, windowSeconds: 900, firstDelaySeconds: 600, maxDelaySeconds: 600 };
  before(async () => {
    world = await WebWorld.create({
      database,
      env: { TRUST_PROXY: 'loopback' },
      web: (services) => ({
        loginLimiter: new LoginLimiter(services.db, raceLimits),
        checkPassword: (password, hash) => { checks++; return verifyPassword(password, hash); },
      }),
    });
    await world.createUser('admin', 'admin');
  });
  after(async () => world.close());

  it('counts each attempt before checking its password: 300 parallel wrong sign-ins make at most the free number of checks plus one', async () => {
    const agent = supertest.agent(world.server);
    const token = csrfFrom((await agent.get('/login').set('X-Forwarded-For', '203.0.113.9')).text);
    const answers = await Promise.all(Array.from({ length: 300 }, (_, index) => agent.post('/login').set('X-Forwarded-For', '203.0.113.9')
      .type('form').send({ _csrf: token, username: 'admin', password: `wrong ${index}` })));
    const statuses = new Map<number, number>();
    for (const answer of answers) statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
    assert.deepEqual([...statuses.keys()].sort(), [401, 429], JSON.stringify([...statuses]));
    // The free attempts, and one through the delay's gate (the per-address gate never opens a second).
    assert.ok(checks <= raceLimits.freePerPair + 1, `${checks} password checks`);
    assert.equal(statuses.get(401), checks);
  });

});

describeEachDatabase('security: without TRUST_PROXY, forwarded headers are not believed', (database) => {
  let world: WebWorld;
  const limits: LoginLimits = { freePerPair: 2, freePerAddress: 50, windowSeconds: 900, firstDelaySeconds: 60, maxDelaySeconds: 60 };
  before(async () => {
    world = await WebWorld.create({ database, web: (services) => ({ loginLimiter: new LoginLimiter(services.db, limits) }) });
    await world.createUser('admin', 'admin');
  });
  after(async () => world.close());

  it('counts a guesser who changes X-Forwarded-For as one address, and never marks the cookie Secure from a header', async () => {
    const agent = world.agent();
    const token = csrfFrom((await agent.get('/login')).text);
    const statuses: number[] = [];
    for (let attempt = 1; attempt <= 5; attempt++) {
      statuses.push((await agent.post('/login').set('X-Forwarded-For', `10.0.0.${attempt}`).type('form').send({ _csrf: token, username: 'admin', password: 'guess' })).status);
    }
    assert.deepEqual(statuses, [401, 401, 401, 429, 429]);
    const other = world.agent();
    const form = await other.get('/login');
    const response = await other.post('/login').set('X-Forwarded-Proto', 'https').type('form').send({ _csrf: csrfFrom(form.text), username: 'nobody', password: 'x' });
    assert.equal(response.status, 401);
    for (const line of (response.headers['set-cookie'] as unknown as string[] | undefined) ?? []) assert.doesNotMatch(line, /Secure/);
  });
});

describe('security: TRUST_PROXY is read with the reason for a bad value', () => {
  it('takes false, true, a hop count and lists of addresses, ranges and names', () => {
    assert.equal(parseTrustProxy(undefined), false);
    assert.equal(parseTrustProxy('false'), false);
    assert.equal(parseTrustProxy('true'), true);
    assert.equal(parseTrustProxy('1'), 1);
    assert.deepEqual(parseTrustProxy('loopback, 10.0.0.0/8, ::1'), ['loopback', '10.0.0.0/8', '::1']);
  });

  it('refuses anything else, naming the bad entry', () => {
    assert.throws(() => parseTrustProxy('10.0.0.0/33'), /TRUST_PROXY must be .*"10\.0\.0\.0\/33" is none of these/);
    assert.throws(() => parseTrustProxy('yes'), /"yes" is none of these/);
    assert.throws(() => parseTrustProxy('99'), /from 0 to 20/);
    assert.throws(() => loadConfig({ TRUST_PROXY: 'proxy.example', SECRET_KEY: 'x'.repeat(32) }), /TRUST_PROXY/);
  });
});
