import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import express from 'express';
import { toIso } from '../../src/lib/clock';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { crcResponseToken, webhookSignature } from '../../src/twitter/webhook-signature';
import { webhookRoutes } from '../../src/web/routes/webhooks';
import { articlesTable, describeEachDatabase, TestEnv, type EmulatorUser } from '../support/test-env';
import { startProduct, until, type Product } from '../support/webhook-product';

/* eslint-disable @typescript-eslint/no-explicit-any */

describeEachDatabase('real-time replies by webhook (X Activity API), polling as the backstop', (database) => {
  let world: TestEnv;
  let account: EmulatorUser;
  let accountId: number;
  let product: Product;
  let rootTweetId: string;

  beforeEach(async () => {
    world = await TestEnv.create(database);
    await world.sql(articlesTable(world));
    account = await world.createXUser('kb_news');
    accountId = await world.addAccount(account);
    await world.addArticlesIntegration(accountId);
    product = await startProduct(world);
    await world.sql('INSERT INTO articles (title, tweet_text, keep_going) VALUES (?, ?, ?)', ['one', 'Tell us what you think', 'Yes']);
  });
  afterEach(async () => {
    await product.close();
    await world.close();
  });

  const poll = () => runPollCycle(product.services.sync);
  const replies = async () => (await world.sql('SELECT replies FROM articles WHERE id = 1'))[0].replies as string | null;
  const logged = async (tweetId: string) => Number((await world.sql('SELECT COUNT(*) AS n FROM kbts_communications WHERE tweet_id = ?', [tweetId]))[0].n);
  const mentionReads = async () => (await world.control('GET', '/calls')).by_endpoint['GET /2/users/:id/mentions'] ?? 0;
  const deliveries = async () => (await world.control('GET', '/webhooks/deliveries')).deliveries as any[];
  const settled = async (count: number) => {
    await until(`${count} deliveries`, async () => (await deliveries()).filter((d) => d.status !== null || d.note !== null).length >= count);
    await product.services.webhooks.ingestion.idle();
  };
  /** The backstop's interval has passed: its next poll reads the mentions. */
  const backstopDue = () => product.services.sync.accountWebhooks!.update(accountId, { lastBackstopAt: toIso(product.services.clock.now().minus({ hours: 1 })) }, toIso(product.services.clock.now()));

  async function enableAndTweet(): Promise<void> {
    const status = await product.services.webhooks.enable(accountId);
    assert.equal(status.enabled, true);
    assert.equal(status.registered, true);
    assert.equal(status.valid, true);
    assert.equal(status.webhook_url, `${product.url}/webhooks/x/${accountId}`);
    assert.deepEqual(status.subscriptions.map((s) => s.event_type).sort(), ['post.mention.create', 'post.reply.create']);
    assert.ok(status.last_crc_at, 'X\'s CRC request was answered');
    assert.equal((await poll()).published, 1);
    rootTweetId = (await world.tweetsBy('kb_news'))[0].id;
  }

  it('a reply made on X arrives by webhook and is written into the record once, without a poll', async () => {
    await enableAndTweet();
    const readsBefore = await mentionReads();
    const reply = await world.replyAs('alice', rootTweetId, 'Pushed to you');
    // A reply that carries @kb_news is both a reply and a mention: two events, one entry.
    await settled(2);
    const text = await until('the reply in the record', async () => ((await replies())?.includes('Pushed to you') ? replies() : null));
    assert.equal(text!.split('\n').length, 1);
    assert.match(text!, /@alice: Pushed to you$/);
    assert.equal(await logged(reply.id), 1);
    const status = await product.services.webhooks.status(accountId);
    assert.equal(status.events_today, 2);
    assert.ok(status.last_event_at);

    // The mentions read is now a backstop: the next poll does not ask for mentions.
    await poll();
    assert.equal(await mentionReads(), readsBefore);
    assert.equal(await logged(reply.id), 1);
  });

  it('doubled and out-of-order deliveries: every reply written once', async () => {
    await enableAndTweet();
    await world.control('POST', '/webhooks/faults', { rules: [{ kind: 'duplicate' }] });
    const first = await world.replyAs('alice', rootTweetId, 'first, twice', { mention: false });
    await settled(2);
    await world.control('POST', '/webhooks/faults', { rules: [{ kind: 'out_of_order', ms: 5000 }] });
    const second = await world.replyAs('bob', rootTweetId, 'second, held back', { mention: false });
    const third = await world.replyAs('carol', rootTweetId, 'third, overtakes', { mention: false });
    await settled(4);
    const text = (await replies()) ?? '';
    for (const reply of ['first, twice', 'second, held back', 'third, overtakes']) assert.equal(text.split(reply).length, 2, `${reply} once in: ${text}`);
    for (const reply of [first, second, third]) assert.equal(await logged(reply.id), 1);
  });

  it('a bad signature is refused with 401 and logged; a lost delivery is caught by the backstop poll; each written once', async () => {
    await enableAndTweet();
    // Each reply carries @kb_news: a reply event and a mention event, both hit.
    await world.control('POST', '/webhooks/faults', { rules: [{ kind: 'bad_signature', count: 2 }, { kind: 'lost', count: 2 }] });
    const forged = await world.replyAs('mallory', rootTweetId, 'signed wrongly');
    const lost = await world.replyAs('alice', rootTweetId, 'never delivered');
    await settled(4);
    const log = await deliveries();
    assert.deepEqual(log.map((d) => [d.tweet_id, d.status, d.note]).sort(), [
      [forged.id, 401, 'bad signature (fault)'], [forged.id, 401, 'bad signature (fault)'], [lost.id, null, 'lost (fault)'], [lost.id, null, 'lost (fault)'],
    ].sort());
    assert.ok(product.logLines.some((line) => /webhook event refused/.test(line) && /the signature does not match the body/.test(line)));
    assert.equal(await replies(), null);

    await poll(); // the backstop is not due yet
    assert.equal(await replies(), null);
    await backstopDue();
    await poll();
    const text = (await replies()) ?? '';
    assert.match(text, /signed wrongly/);
    assert.match(text, /never delivered/);
    assert.equal(await logged(forged.id), 1);
    assert.equal(await logged(lost.id), 1);

    // X replaying the window afterwards changes nothing.
    await product.services.sync.accountWebhooks!.update(accountId, { aliveAt: toIso(product.services.clock.now().minus({ minutes: 10 })) }, toIso(product.services.clock.now()));
    assert.ok(await product.services.webhooks.replayMissed(accountId));
    await settled(8);
    assert.equal(await replies(), text);
  });

  it('after downtime, the missed window is replayed and written once', async () => {
    await enableAndTweet();
    await world.control('POST', '/webhooks/faults', { rules: [{ kind: 'lost', count: 2 }] });
    const missed = await world.replyAs('alice', rootTweetId, 'while we were down');
    await settled(2);
    assert.equal(await replies(), null);
    // Not down long enough: nothing to replay.
    assert.equal(await product.services.webhooks.replayMissed(accountId), null);
    await product.services.sync.accountWebhooks!.update(accountId, { aliveAt: toIso(product.services.clock.now().minus({ hours: 3 })) }, toIso(product.services.clock.now()));
    assert.match(String(await product.services.webhooks.replayMissed(accountId)), /^[0-9]+$/);
    await settled(4);
    assert.match((await replies()) ?? '', /while we were down/);
    assert.equal(await logged(missed.id), 1);
  });

  it('re-validates with PUT when X marks the webhook invalid, and turns off cleanly', async () => {
    await enableAndTweet();
    const [hook] = (await world.control('GET', '/webhooks')).webhooks;
    await world.control('POST', '/webhooks/faults', { rules: [{ kind: 'crc_fail' }] });
    assert.equal((await world.control('POST', `/webhooks/${hook.id}/crc`)).valid, false);
    await world.control('DELETE', '/calls');
    await product.services.webhooks.check(accountId);
    assert.equal((await world.control('GET', '/calls')).by_endpoint['PUT /2/webhooks/:id'], 1);
    assert.equal((await world.control('GET', '/webhooks')).webhooks[0].valid, true);
    assert.equal((await product.services.webhooks.status(accountId)).valid, true);

    const off = await product.services.webhooks.disable(accountId);
    assert.deepEqual([off.enabled, off.registered, off.subscriptions], [false, false, []]);
    assert.deepEqual((await world.control('GET', '/webhooks')).webhooks, []);
    // Off: the poll reads mentions at every tick again.
    const reads = await mentionReads();
    await poll();
    assert.equal(await mentionReads(), reads + 1);
  });
});

describe('the webhook route refuses bad input, in words, and writes nothing', () => {
  let world: TestEnv;
  let accountId: number;
  let product: Product;
  let secret: string;
  let account: EmulatorUser;

  before(async () => {
    world = await TestEnv.create('sqlite');
    await world.sql(articlesTable(world));
    account = await world.createXUser('kb_news');
    accountId = await world.addAccount(account);
    await world.addArticlesIntegration(accountId);
    product = await startProduct(world);
    secret = account.credentials.api_key_secret;
    await product.services.webhooks.enable(accountId);
  });
  after(async () => {
    await product.close();
    await world.close();
  });

  const post = (body: string | Buffer, headers: Record<string, string> = {}, id = accountId) =>
    fetch(`${product.url}/webhooks/x/${id}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const signed = (body: string) => ({ 'x-twitter-webhooks-signature': webhookSignature(secret, body) });
  const event = (userId: string, tweetId = '1999999999999999999') => JSON.stringify({
    data: { event_uuid: 'u-1', filter: { user_id: userId }, event_type: 'post.reply.create', payload: { id: tweetId, text: 'hi', author_id: '5', conversation_id: '7' }, includes: {} },
  });
  const refusalLogged = (reason: RegExp) => product.logLines.some((line) => /webhook event refused|CRC challenge refused/.test(line) && reason.test(line));

  it('answers X\'s CRC challenge with the consumer secret\'s HMAC, and refuses tokens that are not X\'s kind', async () => {
    const token = '9b4507b3-9040-4669-9ca3-6b94edb50553';
    const res = await fetch(`${product.url}/webhooks/x/${accountId}?crc_token=${token}`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { response_token: crcResponseToken(secret, token) });
    // A JSON text as token would make the answer a valid signature for a forged delivery.
    const forged = await fetch(`${product.url}/webhooks/x/${accountId}?crc_token=${encodeURIComponent(event('1'))}`);
    assert.equal(forged.status, 400);
    assert.equal((await fetch(`${product.url}/webhooks/x/${accountId}`)).status, 400);
    assert.equal((await fetch(`${product.url}/webhooks/x/999?crc_token=abc`)).status, 404);
    assert.ok(refusalLogged(/crc_token is missing or not a token X sends/));
  });

  it('401 for a missing or wrong signature, before the body is even parsed', async () => {
    const body = event(account.id);
    const missing = await post(body);
    assert.equal(missing.status, 401);
    assert.deepEqual(await missing.json(), { error: 'no x-twitter-webhooks-signature header' });
    assert.equal((await post(body, { 'x-twitter-webhooks-signature': webhookSignature('not the secret', body) })).status, 401);
    assert.equal((await post('{not json', { 'x-twitter-webhooks-signature': 'sha256=AAAA' })).status, 401);
    // Signed for other bytes: the same JSON re-spaced does not pass.
    assert.equal((await post(body.replace(':', ': '), signed(body))).status, 401);
    assert.ok(refusalLogged(/the signature does not match the body/));
  });

  it('400 for malformed JSON or a body that is not an event, 413 over 1 MB, 404 for no such account', async () => {
    const broken = '{"data": {';
    const malformed = await post(broken, signed(broken));
    assert.equal(malformed.status, 400);
    assert.deepEqual(await malformed.json(), { error: 'the body is not JSON' });
    const notEvent = JSON.stringify({ hello: 'world' });
    assert.equal((await post(notEvent, signed(notEvent))).status, 400);
    const huge = JSON.stringify({ data: { padding: 'x'.repeat(1024 * 1024) } });
    assert.equal((await post(huge, signed(huge))).status, 413);
    assert.equal((await post(event(account.id), signed(event(account.id)), 999)).status, 404);
    assert.ok(refusalLogged(/the body is over 1mb/));
    assert.ok(refusalLogged(/the body is not JSON/));
  });

  it('an event for an account not connected here, or one sent twice, is ignored: nothing written twice', async () => {
    const foreign = event('1234567');
    assert.equal((await post(foreign, signed(foreign))).status, 200);
    assert.ok(refusalLogged(/ignored: the event is for user 1234567, not the account connected here/));
    // A signed event twice (a replay): a reply to no conversation of the KB, logged nowhere either time.
    const own = event(account.id);
    for (let i = 0; i < 2; i++) assert.equal((await post(own, signed(own))).status, 200);
    await product.services.webhooks.ingestion.idle();
    assert.equal((await world.sql('SELECT COUNT(*) AS n FROM kbts_communications WHERE direction = ?', ['in']))[0].n, 0);
    assert.equal((await world.sql('SELECT replies FROM articles')).length, 0);
  });

  it('shuts out an address whose requests keep being refused, and never throttles signed deliveries', async () => {
    const app = express();
    app.set('trust proxy', false);
    app.use(webhookRoutes(product.services, { refusalsPerMinute: 3 }));
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    try {
      const base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/webhooks/x/${accountId}`;
      const deliver = (body: string, headers: Record<string, string>) => fetch(base, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      // Twenty signed deliveries and CRC answers: well past the allowance of refusals, all answered.
      const accepted: number[] = [];
      for (let i = 0; i < 10; i++) {
        const body = event(account.id, String(1999999999999999000n + BigInt(i)));
        accepted.push((await deliver(body, signed(body))).status, (await fetch(`${base}?crc_token=abc`)).status);
      }
      assert.deepEqual(accepted, new Array(20).fill(200));
      // Forged ones: three refusals, then the address is shut out, signed or not.
      const body = event(account.id);
      const forged: number[] = [];
      for (let i = 0; i < 5; i++) forged.push((await deliver(body, { 'x-twitter-webhooks-signature': webhookSignature('not the secret', body) })).status);
      assert.deepEqual(forged, [401, 401, 401, 429, 429]);
      assert.equal((await deliver(body, signed(body))).status, 429);
      assert.ok(product.logLines.some((line) => /webhook request refused/.test(line) && /rate limit: 3 refused requests/.test(line)));
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('never logs the consumer secret or the signature key', () => {
    assert.ok(product.logLines.length > 0);
    for (const line of product.logLines) assert.ok(!line.includes(secret), `a log line carries the secret: ${line}`);
  });

  it('turning it on without PUBLIC_URL, or for an account that does not exist, says what to do', async () => {
    const bare = await startProduct(world, { PUBLIC_URL: '' });
    try {
      await assert.rejects(bare.services.webhooks.enable(accountId), /real-time replies need PUBLIC_URL/);
      await assert.rejects(bare.services.webhooks.enable(999), /account 999 does not exist/);
    } finally {
      await bare.close();
    }
  });
});
