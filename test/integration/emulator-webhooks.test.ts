import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiResponseError, type TwitterApi } from 'twitter-api-v2';
import { startEmulator, type StartedEmulator } from '../../src/emulator/emulator';
import type { CreatedUser } from '../../src/emulator/state';
import { crcResponseToken, parseReplayDate, signWebhookBody } from '../../src/emulator/webhooks';
import { createTwitterApi } from '../../src/twitter/x-client-factory';

/* eslint-disable @typescript-eslint/no-explicit-any */

const START = Date.parse('2026-11-22T14:03:00.000Z');

interface Delivery {
  raw: string;
  signature: string | undefined;
  body: any;
}

/** A webhook receiver of the test's own: answers CRC with a secret it is given, keeps every POST. */
class Receiver {
  deliveries: Delivery[] = [];
  crcSecret = '';
  crcMode: 'right' | 'wrong' | 'status500' = 'right';
  crcRequests = 0;
  private server!: http.Server;
  url = '';

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (req.method === 'GET') {
        this.crcRequests++;
        const token = url.searchParams.get('crc_token') ?? '';
        if (this.crcMode === 'status500') return void res.writeHead(500).end();
        const answer = this.crcMode === 'right' ? crcResponseToken(this.crcSecret, token) : crcResponseToken('wrong secret', token);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ response_token: answer }));
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        this.deliveries.push({ raw, signature: req.headers['x-twitter-webhooks-signature'] as string | undefined, body: JSON.parse(raw) });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/webhooks/x`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  tweetIds(): string[] {
    return this.deliveries.map((d) => d.body.data.payload.id);
  }
}

function clientFor(user: CreatedUser, baseUrl: string): TwitterApi {
  const c = user.credentials;
  return createTwitterApi({ apiKey: c.api_key, apiKeySecret: c.api_key_secret, accessToken: c.access_token, accessTokenSecret: c.access_token_secret }, baseUrl);
}

async function refusal(call: () => Promise<unknown>): Promise<ApiResponseError> {
  try {
    await call();
  } catch (error) {
    assert.ok(error instanceof ApiResponseError, `expected ApiResponseError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the call to be refused');
}

function message(error: ApiResponseError): string {
  return String((error.data as any).errors?.[0]?.message ?? (error.data as any).detail);
}

describe('X API emulator: webhooks and Activity API subscriptions', function () {
  let emulator: StartedEmulator;
  let receiver: Receiver;
  let kb: CreatedUser;
  let x: TwitterApi;

  beforeEach(async () => {
    emulator = await startEmulator({ startAt: START });
    receiver = new Receiver();
    await receiver.start();
    kb = emulator.state.createUser({ username: 'kb_hooks' });
    receiver.crcSecret = kb.credentials.api_key_secret;
    x = clientFor(kb, emulator.url);
  });

  afterEach(async () => {
    await emulator.state.webhooks.idle();
    await receiver.stop();
    await emulator.close();
  });

  async function register(): Promise<string> {
    const created = await x.v2.post<any>('webhooks', { url: receiver.url });
    return created.data.id;
  }

  async function subscribeAll(webhookId: string): Promise<void> {
    for (const eventType of ['post.reply.create', 'post.mention.create']) {
      await x.v2.post('activity/subscriptions', { event_type: eventType, filter: { user_id: kb.id }, webhook_id: webhookId, tag: 'kbts' });
    }
  }

  async function control(method: string, route: string, body?: unknown): Promise<any> {
    const res = await fetch(`${emulator.url}/_emulator${route}`, {
      method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, ...((await res.json()) as object) };
  }

  it('signs with HMAC-SHA256 of the consumer secret, as the vectors of X\'s documentation say', () => {
    // Vectors from X's Account Activity documentation, as copied into the project's x-api notes
    // (../shared/x-api/README.md, "Account Activity webhooks").
    assert.equal(crcResponseToken('z3ZX4v7mAAUGykl3EcmkqbartmuW8VFOOzCloLx9Q45P0hLrFu', '9b4507b3-9040-4669-9ca3-6b94edb50553'), 'sha256=Cytd4Sq+NvEcV3MMrXxWJGJx5A+y/lXzzU2Maartkx8=');
    assert.equal(signWebhookBody('test', 'test=1&other_test=2'), 'sha256=25Cu3iwbbiqBTwQRzcKJZwisjf736V2Q8UaTlkfLSoc=');
    assert.equal(signWebhookBody('test', '{"test_number":1,"test_string":"two"}'), 'sha256=YWHphPn/JFq43jkF0y4/w8R/SelmLjvpunhVFY8JhlI=');
    assert.equal(parseReplayDate('202611221403'), START);
    assert.equal(parseReplayDate('202613221403'), null);
    assert.equal(parseReplayDate('2026112214'), null);
  });

  it('registers a webhook only after a real CRC request answered with the right token', async () => {
    const created = await x.v2.post<any>('webhooks', { url: receiver.url });
    assert.equal(receiver.crcRequests, 1);
    assert.deepEqual(Object.keys(created.data).sort(), ['created_at', 'id', 'url', 'valid']);
    assert.equal(created.data.valid, true);
    // The emulator's clock, not the machine's, dates it.
    assert.ok(Math.abs(Date.parse(created.data.created_at) - START) < 60_000, created.data.created_at);
    const listed = await x.v2.get<any>('webhooks');
    assert.deepEqual(listed.data.map((w: any) => w.id), [created.data.id]);

    const duplicate = await refusal(() => x.v2.post('webhooks', { url: receiver.url }));
    assert.equal(duplicate.code, 400);
    assert.match(message(duplicate), /DuplicateUrlFailed/);
  });

  it('refuses a URL whose CRC answer is wrong or fails, and a public URL that is not https without a port', async () => {
    receiver.crcMode = 'wrong';
    assert.match(message(await refusal(() => x.v2.post('webhooks', { url: receiver.url }))), /CrcValidationFailed.*wrong response_token/);
    receiver.crcMode = 'status500';
    assert.match(message(await refusal(() => x.v2.post('webhooks', { url: receiver.url }))), /CrcValidationFailed.*answered 500/);
    assert.match(message(await refusal(() => x.v2.post('webhooks', { url: 'http://example.com/hook' }))), /UrlValidationFailed/);
    assert.match(message(await refusal(() => x.v2.post('webhooks', { url: 'https://example.com:8443/hook' }))), /UrlValidationFailed/);
    assert.match(message(await refusal(() => x.v2.post('webhooks', { url: `https://example.com/${'a'.repeat(200)}` }))), /UrlValidationFailed/);
    assert.deepEqual((await x.v2.get<any>('webhooks')).data, []);
  });

  it('delivers a reply and a mention, signed over the raw body with the app\'s consumer secret', async () => {
    const webhookId = await register();
    await subscribeAll(webhookId);
    const root = emulator.state.createTweet(kb.id, 'A record people answer');
    const reply = emulator.state.postAs({ as: 'alice', text: 'an answer', in_reply_to_tweet_id: root.id });
    const mention = emulator.state.postAs({ as: 'bob', text: 'hey @kb_hooks, look' });
    emulator.state.postAs({ as: 'carol', text: 'nothing to do with the account' });
    await emulator.state.webhooks.idle();

    // The reply carries @kb_hooks, so it is a reply and a mention: two events, one tweet.
    const kinds = receiver.deliveries.map((d) => `${d.body.data.event_type} ${d.body.data.payload.id}`).sort();
    assert.deepEqual(kinds, [`post.mention.create ${mention.id}`, `post.mention.create ${reply.id}`, `post.reply.create ${reply.id}`].sort());
    for (const delivery of receiver.deliveries) {
      assert.equal(delivery.signature, 'sha256=' + crypto.createHmac('sha256', kb.credentials.api_key_secret).update(delivery.raw).digest('base64'));
    }
    const event = receiver.deliveries.find((d) => d.body.data.event_type === 'post.reply.create')!.body.data;
    assert.deepEqual(event.filter, { user_id: kb.id });
    assert.equal(event.tag, 'kbts');
    assert.match(event.event_uuid, /^[0-9a-f-]{36}$/);
    assert.deepEqual(event.payload, {
      id: reply.id, text: reply.text, author_id: reply.author_id, conversation_id: root.id, created_at: reply.created_at,
      edit_history_tweet_ids: [reply.id], in_reply_to_tweet_id: root.id, in_reply_to_user_id: kb.id, referenced_tweets: [{ type: 'replied_to', id: root.id }],
    });
    assert.deepEqual(event.includes.users.map((u: any) => u.username), ['alice']);
  });

  it('lists and deletes subscriptions and webhooks; nothing is delivered after', async () => {
    const webhookId = await register();
    await subscribeAll(webhookId);
    const listed = await x.v2.get<any>('activity/subscriptions');
    assert.deepEqual(listed.data.map((s: any) => s.event_type).sort(), ['post.mention.create', 'post.reply.create']);
    const dup = await refusal(() => x.v2.post('activity/subscriptions', { event_type: 'post.reply.create', filter: { user_id: kb.id }, webhook_id: webhookId }));
    assert.equal(dup.code, 409);
    for (const sub of listed.data) assert.deepEqual((await x.v2.delete<any>(`activity/subscriptions/${sub.subscription_id}`)).data, { deleted: true });
    assert.equal((await refusal(() => x.v2.delete(`activity/subscriptions/${listed.data[0].subscription_id}`))).code, 404);
    assert.deepEqual((await x.v2.delete<any>(`webhooks/${webhookId}`)).data, { deleted: true });
    assert.equal((await refusal(() => x.v2.delete(`webhooks/${webhookId}`))).code, 404);
    emulator.state.postAs({ as: 'bob', text: 'hey @kb_hooks' });
    await emulator.state.webhooks.idle();
    assert.deepEqual(receiver.deliveries, []);
  });

  it('refuses bad subscriptions in words', async () => {
    const webhookId = await register();
    const cases: Array<[unknown, RegExp]> = [
      [{ event_type: 'post.liked.maybe', filter: { user_id: kb.id } }, /event_type/],
      [{ event_type: 'post.reply.create' }, /filter/],
      [{ event_type: 'post.reply.create', filter: {} }, /user_id: is required/],
      [{ event_type: 'post.reply.create', filter: { user_id: '42' } }, /no user 42/],
      [{ event_type: 'post.reply.create', filter: { user_id: kb.id }, webhook_id: '1' }, /not a webhook of this app/],
      [{ event_type: 'post.reply.create', filter: { user_id: kb.id }, webhook_id: webhookId, colour: 'red' }, /colour/],
    ];
    for (const [body, expected] of cases) {
      const error = await refusal(() => x.v2.post('activity/subscriptions', body as any));
      assert.equal(error.code, 400, JSON.stringify(body));
      assert.match(message(error), expected);
    }
  });

  describe('delivery faults', () => {
    let root: string;

    beforeEach(async () => {
      await subscribeAll(await register());
      root = emulator.state.createTweet(kb.id, 'A record').id;
    });

    function reply(text: string): string {
      return emulator.state.postAs({ as: 'alice', text, in_reply_to_tweet_id: root, mention: false }).id;
    }

    it('lost: nothing arrives, the delivery log says so, and a replay brings it', async () => {
      assert.equal((await control('POST', '/webhooks/faults', { rules: [{ kind: 'lost' }] })).status, 201);
      const id = reply('lost one');
      await emulator.state.webhooks.idle();
      assert.deepEqual(receiver.deliveries, []);
      const log = (await control('GET', '/webhooks/deliveries')).deliveries;
      assert.deepEqual(log.map((d: any) => [d.tweet_id, d.note]), [[id, 'lost (fault)']]);

      emulator.state.changeClock({ advance_ms: 5 * 60_000 });
      const webhookId = (await x.v2.get<any>('webhooks')).data[0].id;
      const job = await x.v2.post<any>('webhooks/replay', { webhook_id: webhookId, from_date: '202611221400', to_date: '202611221408' });
      assert.match(job.data.job_id, /^[0-9]+$/);
      await emulator.state.webhooks.idle();
      assert.deepEqual(receiver.tweetIds(), [id]);
    });

    it('duplicate: the same event (same uuid) arrives twice', async () => {
      await control('POST', '/webhooks/faults', { rules: [{ kind: 'duplicate' }] });
      const id = reply('twice');
      await emulator.state.webhooks.idle();
      assert.deepEqual(receiver.tweetIds(), [id, id]);
      assert.equal(receiver.deliveries[0].body.data.event_uuid, receiver.deliveries[1].body.data.event_uuid);
    });

    it('out of order: an event held back arrives after the next one', async () => {
      await control('POST', '/webhooks/faults', { rules: [{ kind: 'out_of_order', ms: 5000 }] });
      const first = reply('first');
      const second = reply('second');
      await emulator.state.webhooks.idle();
      assert.deepEqual(receiver.tweetIds(), [second, first]);
    });

    it('delay: the event arrives later, and is flagged in the log', async () => {
      await control('POST', '/webhooks/faults', { rules: [{ kind: 'delay', ms: 30 }] });
      const id = reply('later');
      assert.deepEqual(receiver.deliveries, []);
      await emulator.state.webhooks.idle();
      assert.deepEqual(receiver.tweetIds(), [id]);
      assert.match((await control('GET', '/webhooks/deliveries')).deliveries[0].note, /delayed 30 ms/);
    });

    it('bad signature: the event arrives with a signature the consumer secret does not give', async () => {
      await control('POST', '/webhooks/faults', { rules: [{ kind: 'bad_signature' }] });
      reply('forged');
      reply('genuine');
      await emulator.state.webhooks.idle();
      const [forged, genuine] = receiver.deliveries;
      assert.notEqual(forged.signature, signWebhookBody(kb.credentials.api_key_secret, forged.raw));
      assert.equal(genuine.signature, signWebhookBody(kb.credentials.api_key_secret, genuine.raw));
    });

    it('crc_fail: X\'s re-check marks the webhook invalid, deliveries stop, PUT re-validates', async () => {
      const webhookId = (await x.v2.get<any>('webhooks')).data[0].id;
      await control('POST', '/webhooks/faults', { rules: [{ kind: 'crc_fail' }] });
      assert.deepEqual(await control('POST', `/webhooks/${webhookId}/crc`), { status: 200, valid: false, error: 'the CRC check failed (fault crc_fail)' });
      assert.equal((await x.v2.get<any>('webhooks')).data[0].valid, false);
      const missed = reply('while invalid');
      await emulator.state.webhooks.idle();
      assert.deepEqual(receiver.deliveries, []);

      assert.deepEqual((await x.v2.put<any>(`webhooks/${webhookId}`)).data, { valid: true });
      const next = reply('valid again');
      await emulator.state.webhooks.idle();
      assert.deepEqual(receiver.tweetIds(), [next]);
      assert.ok(missed);
    });

    it('refuses unknown fault kinds and a replay outside the last 24 hours', async () => {
      assert.equal((await control('POST', '/webhooks/faults', { rules: [{ kind: 'gremlins' }] })).status, 400);
      const webhookId = (await x.v2.get<any>('webhooks')).data[0].id;
      emulator.state.changeClock({ advance_ms: 2 * 24 * 60 * 60_000 });
      assert.match(message(await refusal(() => x.v2.post('webhooks/replay', { webhook_id: webhookId, from_date: '202611221400', to_date: '202611221410' }))), /within the last 24 hours/);
      assert.match(message(await refusal(() => x.v2.post('webhooks/replay', { webhook_id: webhookId, from_date: '2026-11-22', to_date: '202611221410' }))), /from_date/);
      assert.equal((await refusal(() => x.v2.post('webhooks/replay', { webhook_id: '12345', from_date: '202611241400', to_date: '202611241401' }))).code, 404);
    });
  });
});
