import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { knownTableOrFail } from '../../src/web/kb-tables';
import { recordFingerprint, recordTopic } from '../../src/web/live/topics';
import { toIso } from '../../src/lib/clock';
import { hashPassword } from '../../src/lib/password';
import { TestEnv, describeEachDatabase } from '../support/test-env';
import { PASSWORD, WebWorld } from '../support/web-world';
import { SseClient, signInCookie } from '../support/sse';

describeEachDatabase('live pages: server-sent events behind sign-in', (database) => {
  let world: WebWorld;
  let integrationId: number;
  const streams: SseClient[] = [];

  async function open(path: string, cookie?: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const stream = await SseClient.open(`${world.url}${path}`, cookie ? { ...headers, cookie } : headers);
    streams.push(stream);
    return stream;
  }

  async function cookieOf(username: string, role: 'admin' | 'editor' | 'viewer'): Promise<string> {
    await world.createUser(username, role);
    return signInCookie(world.url, username, PASSWORD);
  }

  /** A record inserted through a connection of its own, as any KB writer would. */
  async function insertArticle(title: string): Promise<string> {
    const [row] = await world.env.sql<{ id: number }>('INSERT INTO articles (title, tweet_text) VALUES (?, ?) RETURNING id', [title, `${title}: the tweet`]);
    return String(row.id);
  }

  /** `poll --once` on services of its own (its own connections, no hub of this web app). */
  const pollFromAnotherProcess = () => world.env.pollOnce({ PORT: new URL(world.url).port });

  beforeEach(async () => {
    world = await WebWorld.create({ database, web: () => ({ live: { maxPerUser: 2, heartbeatMs: 200 } }) });
    ({ integrationId } = await world.withSandboxIntegration({ username: 'kb_live' }));
  });
  afterEach(async () => {
    for (const stream of streams.splice(0)) stream.close();
    await world.close();
  });

  it('answers 401 without a session, and the page\'s own rules with one: a viewer follows records and the log, not the dashboard', async () => {
    const viewer = await cookieOf('vera', 'viewer');
    for (const path of ['/live/dashboard', '/live/communications', '/live/records/articles/rows/1']) {
      const anonymous = await open(path);
      assert.equal(anonymous.status, 401, path);
      assert.match(await anonymous.text(), /Sign in/);
      const person = await fetch(`${world.url}${path}`, { redirect: 'manual' });
      assert.equal(person.status, 303, 'a person who typed the address is sent to sign in, as on every page');
      assert.match(person.headers.get('location') ?? '', /^\/login\?next=/);
    }
    const typed = await fetch(`${world.url}/live/communications`, { headers: { cookie: viewer, accept: 'text/html' } });
    assert.equal(typed.status, 406, 'signed in, the address opened as a page explains itself instead of hanging');
    const dashboard = await open('/live/dashboard', viewer);
    assert.equal(dashboard.status, 403);
    const missing = await open('/live/records/articles/rows/999', viewer);
    assert.equal(missing.status, 404);
    const noTable = await open('/live/records/no_such_table/rows/1', viewer);
    assert.equal(noTable.status, 404);

    const log = await open('/live/communications', viewer);
    assert.equal(log.status, 200);
    assert.match(log.response.headers['content-type'] ?? '', /^text\/event-stream/);
    assert.match(log.response.headers['cache-control'] ?? '', /no-transform/, 'compressing proxies must not hold events back');
    assert.equal(log.response.headers['x-accel-buffering'], 'no', 'nginx must not buffer the stream');
    const ready = await log.waitForEvent('ready');
    assert.deepEqual(JSON.parse(ready.data), { topic: 'communications' });
    assert.match(ready.id, /^[\w-]{16}$/, 'the version is an opaque token');
  });

  it('tells a viewer\'s record page about its tweet and then a reply, both made by another process', async () => {
    const key = await insertArticle('Followed');
    const viewer = await cookieOf('vera', 'viewer');
    const record = await open(`/live/records/articles/rows/${key}`, viewer);
    const log = await open('/live/communications', viewer);
    await record.waitForEvent('ready');
    await log.waitForEvent('ready');

    assert.equal((await pollFromAnotherProcess()).published, 1);
    await record.waitForEvent('change');
    await log.waitForEvent('change');
    const { tweetId } = (await world.services.publications.findByRecord(integrationId, key))!;
    assert.ok(tweetId);

    world.sandbox.postAs({ as: 'reader', text: 'A reply from outside', in_reply_to_tweet_id: tweetId });
    const before = record.named('change').length;
    assert.equal((await pollFromAnotherProcess()).replies_applied, 1);
    await record.waitForEvent('change', before + 1);
    const page = await fetch(`${world.url}/records/articles/rows/${key}`, { headers: { cookie: viewer, 'x-kbts-live': '1' } });
    assert.match(await page.text(), /@reader: A reply from outside/, 'the page fetched after the event shows the reply');
  });

  it('finds another record\'s tweet no news for a record\'s page, and its own reply news', async () => {
    const quiet = await insertArticle('Quiet');
    assert.equal((await pollFromAnotherProcess()).published, 1);
    const table = await knownTableOrFail(world.services.db, 'articles');
    const topic = recordTopic(world.services, table, quiet, await recordFingerprint(world.services, table, quiet));
    const change = { areas: new Set(['communications', 'publications'] as const), version: 'test' };
    assert.equal(await topic.concerns(change), false, 'nothing changed for the record yet');

    await insertArticle('Loud');
    assert.equal((await pollFromAnotherProcess()).published, 1);
    assert.equal(await topic.concerns(change), false, 'another record\'s tweet is not news here');

    const { tweetId } = (await world.services.publications.findByRecord(integrationId, quiet))!;
    world.sandbox.postAs({ as: 'reader', text: 'Now it is news', in_reply_to_tweet_id: tweetId! });
    assert.equal((await pollFromAnotherProcess()).replies_applied, 1);
    assert.equal(await topic.concerns({ areas: new Set(['polls'] as const), version: 'test' }), false, 'a change of last poll alone is never looked at');
    assert.equal(await topic.concerns(change), true, 'its own reply is');
    assert.equal(await topic.concerns(change), false, 'and only once');
  });

  it('tells the dashboard about "Run now" in this process and a poll in another', async () => {
    const admin = await cookieOf('ada', 'admin');
    const dashboard = await open('/live/dashboard', admin);
    await dashboard.waitForEvent('ready');
    await insertArticle('On the dashboard');
    // "Run now"'s work, on the web app's own services (its own database handle: the in-process poke).
    await runPollCycle(world.services.sync, { integrationId });
    await dashboard.waitForEvent('change');
    const seen = dashboard.named('change').length;
    await pollFromAnotherProcess();
    await dashboard.waitForEvent('change', seen + 1);
  });

  it('tells the dashboard about a record inserted by another operating-system process (its capture, pending)', async () => {
    const admin = await cookieOf('ada', 'admin');
    const dashboard = await open('/live/dashboard', admin);
    await dashboard.waitForEvent('ready');
    await world.env.insertFromOtherProcess('INSERT INTO articles (title, tweet_text) VALUES (?, ?)', [['From elsewhere', 'Inserted by another process']]);
    await dashboard.waitForEvent('change');
    const page = await fetch(`${world.url}/`, { headers: { cookie: admin, 'x-kbts-live': '1' } });
    assert.match(await page.text(), /<span class="count">1<\/span> pending/);
  });

  it('sends a change at once to a page rendered before a change it had not seen', async () => {
    const viewer = await cookieOf('vera', 'viewer');
    const page = await fetch(`${world.url}/communications`, { headers: { cookie: viewer } });
    const since = /data-live-since="([^"]+)"/.exec(await page.text())?.[1];
    assert.ok(since, 'the page carries the version it was rendered at');
    await insertArticle('Between render and stream');
    await pollFromAnotherProcess();
    const log = await open(`/live/communications?since=${since}`, viewer);
    await log.waitForEvent('change');
  });

  it('caps the streams of one user, and frees a place when one closes', async () => {
    const viewer = await cookieOf('vera', 'viewer');
    const first = await open('/live/communications', viewer);
    await open('/live/communications', viewer);
    const third = await open('/live/communications', viewer);
    assert.equal(third.status, 429);
    assert.match(await third.text(), /At most 2 pages of one user/);
    const other = await open('/live/communications', await cookieOf('otto', 'viewer'));
    assert.equal(other.status, 200, 'another user has places of their own');
    first.close();
    let again: SseClient;
    for (;;) {
      again = await open('/live/communications', viewer);
      if (again.status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await again.waitForEvent('ready');
  });

  it('ends the stream when its session is signed out', async () => {
    const viewer = await cookieOf('vera', 'viewer');
    const log = await open('/live/communications', viewer);
    await log.waitForEvent('ready');
    const me = await fetch(`${world.url}/me`, { headers: { cookie: viewer } });
    const token = /name="_csrf" value="([^"]+)"/.exec(await me.text())![1];
    const out = await fetch(`${world.url}/logout`, { method: 'POST', redirect: 'manual', headers: { cookie: viewer, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: token }) });
    assert.equal(out.status, 303);
    const end = await log.waitForEvent('end');
    assert.deepEqual(JSON.parse(end.data), { reason: 'signed out' });
    await log.waitUntil(() => log.ended, 10_000, 'the stream to close');
  });

  it('leaves the notice for the person\'s next page when the page refreshes itself', async () => {
    const admin = await world.signIn('ada', 'admin');
    const token = await world.csrf(admin, '/');
    await admin.post(`/integrations/${integrationId}/run`).type('form').send({ _csrf: token }).expect(303);
    const refreshed = await admin.get('/').set('x-kbts-live', '1');
    assert.doesNotMatch(refreshed.text, /class="flash/, 'a background refresh does not take the notice');
    const next = await admin.get('/');
    assert.match(next.text, /class="flash flash-success"[^>]*>Ran integration/);
  });
});

describeEachDatabase('live pages: this process\'s own writes, without waiting for a look at the database', (database) => {
  let world: WebWorld;
  let integrationId: number;
  const streams: SseClient[] = [];

  beforeEach(async () => {
    // Looks at the database only hourly: whatever arrives came through the in-process poke.
    world = await WebWorld.create({ database, web: () => ({ live: { checkEveryMs: 3_600_000 } }) });
    ({ integrationId } = await world.withSandboxIntegration({ username: 'kb_poked' }));
  });
  afterEach(async () => {
    for (const stream of streams.splice(0)) stream.close();
    await world.close();
  });

  it('tells the dashboard about the web app\'s own poll cycle, and a record\'s page about an edit from the record form', async () => {
    await world.createUser('ada', 'admin');
    const cookie = await signInCookie(world.url, 'ada', PASSWORD);
    const dashboard = await SseClient.open(`${world.url}/live/dashboard`, { cookie });
    streams.push(dashboard);
    await dashboard.waitForEvent('ready');
    const [row] = await world.env.sql<{ id: number }>('INSERT INTO articles (title, tweet_text) VALUES (?, ?) RETURNING id', ['Poked', 'Poked: the tweet']);
    const key = String(row.id);
    await runPollCycle(world.services.sync, { integrationId });
    await dashboard.waitForEvent('change');

    const record = await SseClient.open(`${world.url}/live/records/articles/rows/${key}`, { cookie });
    streams.push(record);
    await record.waitForEvent('ready');
    const admin = await world.signIn('ada', 'admin');
    const token = await world.csrf(admin, `/records/articles/rows/${key}/edit`);
    await admin.post(`/records/articles/rows/${key}`).type('form')
      .send({ _csrf: token, 'field:title': 'Edited in the form', 'field:tweet_text': 'Poked: the tweet', 'field:keep_going': 'Yes' }).expect(303);
    await record.waitForEvent('change');
  });
});

describeEachDatabase('live pages: through a reverse proxy (TRUST_PROXY)', (database) => {
  let world: WebWorld;
  let proxy: http.Server;
  let proxyUrl: string;

  beforeEach(async () => {
    world = await WebWorld.create({ database, env: { TRUST_PROXY: 'loopback' } });
    await world.withSandboxIntegration({ username: 'kb_proxied' });
    // A plain streaming reverse proxy that says the client came over HTTPS from elsewhere.
    proxy = http.createServer((req, res) => {
      const upstream = http.request(`${world.url}${req.url}`, {
        method: req.method,
        headers: { ...req.headers, 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'kb.example' },
      }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      req.pipe(upstream);
      res.on('close', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', () => resolve()));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    proxy.closeAllConnections();
    await new Promise((resolve) => proxy.close(resolve));
    await world.close();
  });

  it('streams events through the proxy as they happen', async () => {
    await world.createUser('vera', 'viewer');
    const cookie = await signInCookie(proxyUrl, 'vera', PASSWORD);
    const log = await SseClient.open(`${proxyUrl}/live/communications`, { cookie });
    try {
      assert.equal(log.status, 200);
      await log.waitForEvent('ready');
      await world.env.sql('INSERT INTO articles (title, tweet_text) VALUES (?, ?)', ['Proxied', 'Through the proxy']);
      await world.env.pollOnce({ PORT: new URL(world.url).port });
      await log.waitForEvent('change');
    } finally {
      log.close();
    }
  });
});

describe('live pages: serve stops on SIGTERM with a stream open', function () {
  this.timeout(60_000);
  let env: TestEnv;

  before(async () => { env = await TestEnv.create('sqlite'); });
  after(async () => env.close());

  it('ends the open stream and exits, instead of waiting for the browser to leave', async () => {
    const services = await env.services();
    await services.users.create('ada', await hashPassword(PASSWORD), 'admin', toIso(services.clock.now()));
    const daemon = env.startDaemon(['serve'], { PORT: '0' });
    const url = await new Promise<string>((resolve, reject) => {
      daemon.child.stdout!.on('data', () => {
        const match = /listening on (http:\/\/\S+)/.exec(daemon.stdout);
        if (match) resolve(match[1]);
      });
      daemon.child.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
    });
    const stream = await SseClient.open(`${url}/live/dashboard`, { cookie: await signInCookie(url, 'ada', PASSWORD) });
    try {
      await stream.waitForEvent('ready');
      const exited = new Promise<number | null>((resolve) => daemon.child.once('exit', (code) => resolve(code)));
      daemon.child.kill('SIGTERM');
      assert.equal(await exited, 0, 'serve exits cleanly');
      await stream.waitUntil(() => stream.ended, 10_000, 'the stream to end');
    } finally {
      stream.close();
      await daemon.stop();
    }
  });
});
