import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { startEmulator, type StartedEmulator } from '../../src/emulator/emulator';
import { buildAuthorizationHeader } from '../../src/emulator/oauth1';
import { crcResponseToken } from '../../src/emulator/webhooks';
import { DEFAULT_RATE_LIMITS, type CreatedUser, type EndpointKey } from '../../src/emulator/state';

/* eslint-disable @typescript-eslint/no-explicit-any */

const SPEC_FILE = path.resolve(__dirname, '../fixtures/x-api-openapi.json');
const spec = JSON.parse(fs.readFileSync(SPEC_FILE, 'utf8'));

// ---- the validator -----------------------------------------------------------------------------

const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
addFormats(ajv);
// OpenAPI's numeric formats, which JSON Schema does not define.
ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
ajv.addFormat('double', { type: 'number', validate: () => true });
ajv.addFormat('float', { type: 'number', validate: () => true });
ajv.addFormat('binary', { type: 'string', validate: () => true });
ajv.addFormat('byte', { type: 'string', validate: (s: string) => /^[A-Za-z0-9+/]*={0,2}$/.test(s) });
ajv.addSchema(spec, 'x-api');

const validators = new Map<string, ValidateFunction>();
function validatorAt(pointer: string): ValidateFunction {
  let validate = validators.get(pointer);
  if (!validate) {
    // $refs inside resolve against the loaded document, whose id is x-api.
    validate = ajv.compile({ $ref: `x-api#${pointer}` });
    validators.set(pointer, validate);
  }
  return validate;
}

function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** The spec's path template for a concrete path; literal templates win over ones with {params}. */
function templateFor(concretePath: string): string {
  const candidates = Object.keys(spec.paths)
    .filter((template) => new RegExp('^' + template.replace(/\{[^}]+\}/g, '[^/]+') + '$').test(concretePath))
    .sort((a, b) => (a.match(/\{/g)?.length ?? 0) - (b.match(/\{/g)?.length ?? 0));
  assert.ok(candidates.length > 0, `no operation in the OpenAPI description for ${concretePath}`);
  return candidates[0];
}

// The spec's Problem is a closed union of nine api.x.com problem types. X also sends problems the
// union leaves out; those are held to the fields every Problem variant in the spec requires.
const problemUnion: string[] = Object.keys(spec.components.schemas.Problem.discriminator.mapping);
const problemVariants: any[] = spec.components.schemas.Problem.oneOf.map((ref: { $ref: string }) => spec.components.schemas[ref.$ref.split('/').pop() as string]);
const coreRequired = problemVariants.map((v) => v.required as string[]).reduce((a, b) => a.filter((name) => b.includes(name)));
const UNLISTED_PROBLEM_TYPES = ['about:blank', 'https://api.twitter.com/2/problems/client-forbidden', 'https://api.twitter.com/2/problems/oauth1-permissions'];
const validateProblemCore = ajv.compile({
  type: 'object',
  required: coreRequired,
  properties: {
    type: { type: 'string', enum: UNLISTED_PROBLEM_TYPES },
    title: { type: 'string', minLength: 1 },
    detail: { type: 'string', minLength: 1 },
    status: { type: 'integer' },
  },
});

interface Answer {
  method: string;
  path: string;
  status: number;
  contentType: string;
  body: unknown;
}

function describeErrors(validate: ValidateFunction): string {
  return ajv.errorsText(validate.errors, { separator: '\n  ' });
}

/** Validates one answer against its operation; returns the list of problems (empty = conforms). */
function conformance(answer: Answer): string[] {
  const template = templateFor(answer.path);
  const operation = spec.paths[template][answer.method.toLowerCase()];
  if (!operation) return [`${answer.method} ${template} is not in the OpenAPI description`];
  const statusKey = operation.responses[String(answer.status)] ? String(answer.status) : 'default';
  const response = operation.responses[statusKey];
  if (!response) return [`${answer.method} ${template} has no response for ${answer.status}`];
  const mediaType = answer.contentType.split(';')[0].trim();
  if (!response.content?.[mediaType]) return [`${answer.method} ${template} ${statusKey} does not list ${mediaType}`];

  const body = answer.body as any;
  if (mediaType === 'application/problem+json' && !problemUnion.includes(body?.type)) {
    const problems: string[] = [];
    if (!validateProblemCore(body)) problems.push(describeErrors(validateProblemCore));
    if (body?.status !== undefined && body.status !== answer.status) problems.push(`problem status ${body.status} != HTTP ${answer.status}`);
    return problems;
  }
  const pointer = ['', 'paths', template, answer.method.toLowerCase(), 'responses', statusKey, 'content', mediaType, 'schema'].map(escapePointer).join('/');
  const validate = validatorAt(pointer);
  return validate(body) ? [] : [describeErrors(validate)];
}

// ---- the emulator and raw signed requests ---------------------------------------------------------

describe('X API emulator responses against the official OpenAPI description', function () {
  let emulator: StartedEmulator;
  let kb: CreatedUser;
  let reader: CreatedUser;
  let rootId: string;
  const covered = new Set<string>();

  async function call(
    method: string,
    pathAndQuery: string,
    options: { user?: CreatedUser; json?: unknown; raw?: string | Buffer; contentType?: string; badSecret?: boolean } = {},
  ): Promise<Answer> {
    const user = options.user ?? kb;
    const url = emulator.url + pathAndQuery;
    const authorization = buildAuthorizationHeader({
      method,
      url,
      consumerKey: user.credentials.api_key,
      consumerSecret: options.badSecret ? 'not-the-secret' : user.credentials.api_key_secret,
      token: user.credentials.access_token,
      tokenSecret: user.credentials.access_token_secret,
    });
    const body = options.raw ?? (options.json === undefined ? undefined : JSON.stringify(options.json));
    const headers: Record<string, string> = { authorization };
    if (body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
    const res = await fetch(url, { method, headers, body });
    const text = await res.text();
    return { method, path: new URL(url).pathname, status: res.status, contentType: res.headers.get('content-type') ?? '', body: JSON.parse(text) };
  }

  /** Asserts the status and conformance, and records the (operation, status) pair as covered. */
  async function expectConforming(status: number, answer: Promise<Answer>): Promise<any> {
    const a = await answer;
    assert.equal(a.status, status, `${a.method} ${a.path}: ${JSON.stringify(a.body)}`);
    const problems = conformance(a);
    assert.deepEqual(problems, [], `${a.method} ${a.path} ${a.status} does not conform:\n  ${problems.join('\n  ')}\n${JSON.stringify(a.body)}`);
    covered.add(`${a.method} ${templateFor(a.path)} ${a.status}`);
    return a.body;
  }

  async function withLimitZero(endpoint: EndpointKey, run: () => Promise<void>): Promise<void> {
    emulator.state.setRateLimit({ endpoint, limit: 0 });
    try {
      await run();
    } finally {
      emulator.state.setRateLimit({ endpoint, limit: DEFAULT_RATE_LIMITS[endpoint] });
    }
  }

  before(async () => {
    emulator = await startEmulator({ port: 0 });
    kb = emulator.state.createUser({ username: 'kb_sandbox' });
    reader = emulator.state.createUser({ username: 'no_read' });
    emulator.state.setAccessLevel('no_read', 'no-read');
    rootId = emulator.state.createTweet(kb.id, 'A record that people answer').id;
    for (let i = 0; i < 12; i += 1) {
      const parent = i % 2 === 0 ? rootId : emulator.state.allTweets()[emulator.state.allTweets().length - 1].id;
      emulator.state.postAs({ as: i % 3 ? 'alice' : 'bob', text: `reply ${i}`, in_reply_to_tweet_id: parent });
    }
  });

  after(async () => {
    await emulator.close();
  });

  describe('the validator itself (controls)', () => {
    it('rejects deliberately wrong bodies for each kind of schema it checks', () => {
      const wrong: Answer[] = [
        { method: 'POST', path: '/2/tweets', status: 201, contentType: 'application/json', body: { data: { id: 'not-digits', text: 'x' } } },
        { method: 'POST', path: '/2/tweets', status: 201, contentType: 'application/json', body: { data: { text: 'no id' } } },
        { method: 'GET', path: '/2/users/1/mentions', status: 200, contentType: 'application/json', body: { data: [{ id: 5, text: 'x' }], meta: { result_count: 1 } } },
        { method: 'GET', path: '/2/users/1/mentions', status: 200, contentType: 'application/json', body: { data: [{ id: '5', text: 'x', created_at: 'yesterday' }] } },
        { method: 'GET', path: '/2/tweets/search/recent', status: 200, contentType: 'application/json', body: { meta: { result_count: '0' } } },
        { method: 'GET', path: '/2/tweets', status: 200, contentType: 'application/json', body: { data: [{ id: '1', referenced_posts: [{ type: 'liked', id: '2' }] }] } },
        { method: 'DELETE', path: '/2/tweets/1', status: 200, contentType: 'application/json', body: { data: { deleted: 'yes' } } },
        { method: 'GET', path: '/2/users/me', status: 200, contentType: 'application/json', body: { data: { id: 1, username: 'x' } } },
        { method: 'GET', path: '/2/users/me', status: 400, contentType: 'application/problem+json', body: { type: 'https://api.x.com/2/problems/invalid-request', title: 'Invalid Request' } },
        { method: 'GET', path: '/2/users/me', status: 401, contentType: 'application/problem+json', body: { type: 'about:blank', detail: 'no title' } },
        { method: 'GET', path: '/2/users/me', status: 429, contentType: 'application/problem+json', body: { type: 'about:blank', title: 'Too Many Requests', detail: 'x', status: 400 } },
        { method: 'GET', path: '/2/users/me', status: 403, contentType: 'application/problem+json', body: { type: 'https://example.com/made-up', title: 'x', detail: 'x' } },
        { method: 'GET', path: '/2/users/me', status: 200, contentType: 'text/plain', body: {} },
      ];
      for (const answer of wrong) {
        assert.notDeepEqual(conformance(answer), [], `should not conform: ${JSON.stringify(answer)}`);
      }
    });

    it('accepts a correct body, so the controls above fail for the right reason', () => {
      const right: Answer = { method: 'POST', path: '/2/tweets', status: 201, contentType: 'application/json', body: { data: { id: '1', text: 'x' } } };
      assert.deepEqual(conformance(right), []);
      assert.deepEqual(coreRequired.sort(), ['detail', 'title', 'type']);
    });
  });

  describe('POST /2/tweets', () => {
    it('201 for a post and for a reply', async () => {
      await expectConforming(201, call('POST', '/2/tweets', { json: { text: 'A new record' } }));
      await expectConforming(201, call('POST', '/2/tweets', { json: { text: 'Thanks!', reply: { in_reply_to_tweet_id: rootId } } }));
    });

    it('400 for empty, over-long, malformed and mis-addressed posts', async () => {
      await expectConforming(400, call('POST', '/2/tweets', { json: { text: '' } }));
      await expectConforming(400, call('POST', '/2/tweets', { json: { text: '漢'.repeat(141) } }));
      await expectConforming(400, call('POST', '/2/tweets', { raw: '{"text": ' }));
      await expectConforming(400, call('POST', '/2/tweets', { json: { text: 'x', colour: 'blue' } }));
      await expectConforming(400, call('POST', '/2/tweets', { json: { text: 'x', reply: { in_reply_to_tweet_id: '1' } } }));
    });

    it('401, 403 (duplicate, read-only), 429 and injected 503', async () => {
      await expectConforming(401, call('POST', '/2/tweets', { json: { text: 'x' }, badSecret: true }));
      await expectConforming(403, call('POST', '/2/tweets', { json: { text: 'A new record' } }));
      emulator.state.setAccessLevel('kb_sandbox', 'read-only');
      await expectConforming(403, call('POST', '/2/tweets', { json: { text: 'read only' } }));
      emulator.state.setAccessLevel('kb_sandbox', 'read-write');
      await withLimitZero('POST /2/tweets', async () => {
        await expectConforming(429, call('POST', '/2/tweets', { json: { text: 'limited' } }));
      });
      emulator.state.addFaults([{ endpoint: 'POST /2/tweets', kind: 'status', status: 503 }]);
      await expectConforming(503, call('POST', '/2/tweets', { json: { text: 'unavailable' } }));
    });
  });

  describe('DELETE /2/tweets/{id}', () => {
    it('200, 400, 401, 403, 404 and 429', async () => {
      const own = emulator.state.createTweet(kb.id, 'to be deleted').id;
      await expectConforming(200, call('DELETE', `/2/tweets/${own}`));
      await expectConforming(404, call('DELETE', `/2/tweets/${own}`));
      await expectConforming(400, call('DELETE', '/2/tweets/abc'));
      await expectConforming(401, call('DELETE', `/2/tweets/${rootId}`, { badSecret: true }));
      const foreign = emulator.state.postAs({ as: 'alice', text: 'not yours' }).id;
      await expectConforming(403, call('DELETE', `/2/tweets/${foreign}`));
      await withLimitZero('DELETE /2/tweets/:id', async () => {
        await expectConforming(429, call('DELETE', `/2/tweets/${foreign}`));
      });
    });
  });

  describe('GET /2/tweets and /2/tweets/{id}', () => {
    const fields = 'tweet.fields=author_id,created_at,conversation_id,in_reply_to_user_id,referenced_tweets&expansions=author_id,referenced_tweets.id&user.fields=created_at,description';

    it('200 with data, includes and partial errors, and with errors only', async () => {
      const replyId = emulator.state.allTweets()[2].id;
      const body = await expectConforming(200, call('GET', `/2/tweets?ids=${rootId},${replyId},42&${fields}`));
      assert.equal(body.data.length, 2);
      assert.equal(body.errors.length, 1);
      assert.ok(body.includes.users.length > 0);
      await expectConforming(200, call('GET', '/2/tweets?ids=42,43'));
      await expectConforming(200, call('GET', `/2/tweets/${replyId}?${fields}`));
      await expectConforming(200, call('GET', '/2/tweets/42'));
    });

    it('400, 401, 403 and 429', async () => {
      await expectConforming(400, call('GET', '/2/tweets?ids='));
      await expectConforming(400, call('GET', `/2/tweets?ids=${rootId}&tweet.fields=colour`));
      await expectConforming(400, call('GET', '/2/tweets/abc'));
      await expectConforming(401, call('GET', `/2/tweets?ids=${rootId}`, { badSecret: true }));
      await expectConforming(401, call('GET', `/2/tweets/${rootId}`, { badSecret: true }));
      await expectConforming(403, call('GET', `/2/tweets?ids=${rootId}`, { user: reader }));
      await expectConforming(403, call('GET', `/2/tweets/${rootId}`, { user: reader }));
      await withLimitZero('GET /2/tweets', async () => {
        await expectConforming(429, call('GET', `/2/tweets?ids=${rootId}`));
      });
      await withLimitZero('GET /2/tweets/:id', async () => {
        await expectConforming(429, call('GET', `/2/tweets/${rootId}`));
      });
    });
  });

  describe('GET /2/tweets/search/recent', () => {
    it('200 with results, includes and next_token, and 200 with none', async () => {
      const query = encodeURIComponent(`(conversation_id:${rootId} OR conversation_id:1) -from:kb_sandbox`);
      const page = await expectConforming(200, call('GET', `/2/tweets/search/recent?query=${query}&max_results=10&tweet.fields=author_id,created_at,conversation_id,referenced_tweets&expansions=author_id`));
      assert.ok(page.meta.next_token);
      await expectConforming(200, call('GET', `/2/tweets/search/recent?query=${query}&max_results=10&next_token=${page.meta.next_token}`));
      const empty = await expectConforming(200, call('GET', '/2/tweets/search/recent?query=nothing-matches-this'));
      assert.deepEqual(empty, { meta: { result_count: 0 } });
    });

    it('400, 401, 403 and 429', async () => {
      await expectConforming(400, call('GET', `/2/tweets/search/recent?query=${'a'.repeat(513)}`));
      await expectConforming(400, call('GET', '/2/tweets/search/recent?query=frm%3Aalice'));
      await expectConforming(400, call('GET', '/2/tweets/search/recent?query=x&max_results=5'));
      await expectConforming(400, call('GET', '/2/tweets/search/recent'));
      await expectConforming(401, call('GET', '/2/tweets/search/recent?query=x', { badSecret: true }));
      await expectConforming(403, call('GET', '/2/tweets/search/recent?query=x', { user: reader }));
      await withLimitZero('GET /2/tweets/search/recent', async () => {
        await expectConforming(429, call('GET', '/2/tweets/search/recent?query=x'));
      });
    });
  });

  describe('GET /2/users/me', () => {
    it('200, 400, 401, 429 and an injected 500', async () => {
      await expectConforming(200, call('GET', '/2/users/me?user.fields=created_at,description,protected,verified'));
      await expectConforming(200, call('GET', '/2/users/me', { user: reader }));
      await expectConforming(400, call('GET', '/2/users/me?user.fields=shoe_size'));
      await expectConforming(401, call('GET', '/2/users/me', { badSecret: true }));
      await withLimitZero('GET /2/users/me', async () => {
        await expectConforming(429, call('GET', '/2/users/me'));
      });
      emulator.state.addFaults([{ endpoint: 'GET /2/users/me', kind: 'status', status: 500 }]);
      await expectConforming(500, call('GET', '/2/users/me'));
    });

    it('a forced rate_limit fault answers the same 429 shape', async () => {
      emulator.state.addFaults([{ endpoint: 'GET /2/users/me', kind: 'rate_limit', resetInSeconds: 1, username: 'no_read' }]);
      await expectConforming(429, call('GET', '/2/users/me', { user: reader }));
    });
  });

  for (const timeline of ['mentions', 'tweets'] as const) {
    describe(`GET /2/users/{id}/${timeline}`, () => {
      it('200 with data, includes and meta, 200 empty, and 200 for an unknown user', async () => {
        const who = timeline === 'mentions' ? kb.id : emulator.state.findUser('alice')!.id;
        const full = await expectConforming(200, call('GET', `/2/users/${who}/${timeline}?max_results=5&tweet.fields=author_id,created_at,conversation_id,in_reply_to_user_id,referenced_tweets&expansions=author_id,in_reply_to_user_id&user.fields=created_at`));
        assert.equal(full.data.length, 5);
        assert.ok(full.meta.next_token);
        await expectConforming(200, call('GET', `/2/users/${who}/${timeline}?max_results=5&pagination_token=${full.meta.next_token}`));
        await expectConforming(200, call('GET', `/2/users/${who}/${timeline}?since_id=${full.meta.newest_id}`));
        await expectConforming(200, call('GET', `/2/users/1234/${timeline}`));
      });

      it('400, 401, 403 and 429', async () => {
        const key: EndpointKey = timeline === 'mentions' ? 'GET /2/users/:id/mentions' : 'GET /2/users/:id/tweets';
        await expectConforming(400, call('GET', `/2/users/${kb.id}/${timeline}?max_results=4`));
        await expectConforming(400, call('GET', `/2/users/${kb.id}/${timeline}?since_id=abc&start_time=yesterday`));
        await expectConforming(400, call('GET', `/2/users/${kb.id}/${timeline}?pagination_token=forged`));
        await expectConforming(401, call('GET', `/2/users/${kb.id}/${timeline}`, { badSecret: true }));
        await expectConforming(403, call('GET', `/2/users/${kb.id}/${timeline}`, { user: reader }));
        await withLimitZero(key, async () => {
          await expectConforming(429, call('GET', `/2/users/${kb.id}/${timeline}`));
        });
      });
    });
  }

  describe('/2/webhooks and /2/activity/subscriptions', () => {
    let receiver: http.Server;
    let hookUrl: string;

    before(async () => {
      // Answers X's CRC challenge with the app's consumer secret, and takes deliveries.
      receiver = http.createServer((req, res) => {
        const token = new URL(req.url ?? '/', 'http://localhost').searchParams.get('crc_token');
        if (req.method === 'GET' && token) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ response_token: crcResponseToken(kb.credentials.api_key_secret, token) }));
        req.resume();
        req.on('end', () => res.writeHead(200).end());
      });
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
      hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/webhooks/x`;
    });

    after(async () => {
      await emulator.state.webhooks.idle();
      receiver.closeAllConnections();
      await new Promise((resolve) => receiver.close(resolve));
    });

    it('200, 400, 401, 404 and 429 for every webhook operation', async () => {
      await expectConforming(400, call('POST', '/2/webhooks', { json: { url: 'http://example.com/x' } }));
      await expectConforming(401, call('POST', '/2/webhooks', { json: { url: hookUrl }, badSecret: true }));
      const created = await expectConforming(200, call('POST', '/2/webhooks', { json: { url: hookUrl } }));
      await expectConforming(200, call('GET', '/2/webhooks'));
      await expectConforming(200, call('GET', '/2/webhooks?webhook_config.fields=id,url'));
      await expectConforming(400, call('GET', '/2/webhooks?webhook_config.fields=colour'));
      await expectConforming(401, call('GET', '/2/webhooks', { badSecret: true }));
      await expectConforming(200, call('PUT', `/2/webhooks/${created.data.id}`));
      await expectConforming(404, call('PUT', '/2/webhooks/12345'));
      await expectConforming(400, call('PUT', '/2/webhooks/abc'));
      await expectConforming(401, call('PUT', `/2/webhooks/${created.data.id}`, { badSecret: true }));
      const now = new Date(emulator.state.now());
      const minute = (d: Date) => d.toISOString().slice(0, 16).replace(/[-T:]/g, '');
      const window = { from_date: minute(new Date(now.getTime() - 3_600_000)), to_date: minute(now) };
      await expectConforming(200, call('POST', '/2/webhooks/replay', { json: { webhook_id: created.data.id, ...window } }));
      await expectConforming(400, call('POST', '/2/webhooks/replay', { json: { webhook_id: created.data.id, from_date: 'yesterday', to_date: window.to_date } }));
      await expectConforming(404, call('POST', '/2/webhooks/replay', { json: { webhook_id: '12345', ...window } }));
      await expectConforming(401, call('POST', '/2/webhooks/replay', { json: { webhook_id: created.data.id, ...window }, badSecret: true }));
      await withLimitZero('GET /2/webhooks', async () => {
        await expectConforming(429, call('GET', '/2/webhooks'));
      });

      const sub = await expectConforming(200, call('POST', '/2/activity/subscriptions', { json: { event_type: 'post.mention.create', filter: { user_id: kb.id }, webhook_id: created.data.id, tag: 'kbts' } }));
      await expectConforming(400, call('POST', '/2/activity/subscriptions', { json: { event_type: 'post.mention.create' } }));
      await expectConforming(401, call('POST', '/2/activity/subscriptions', { json: { event_type: 'post.mention.create', filter: { user_id: kb.id } }, badSecret: true }));
      await expectConforming(409, call('POST', '/2/activity/subscriptions', { json: { event_type: 'post.mention.create', filter: { user_id: kb.id }, webhook_id: created.data.id, tag: 'kbts' } }));
      await expectConforming(200, call('GET', '/2/activity/subscriptions'));
      await expectConforming(400, call('GET', '/2/activity/subscriptions?max_results=0'));
      await expectConforming(401, call('GET', '/2/activity/subscriptions', { badSecret: true }));
      await expectConforming(200, call('DELETE', `/2/activity/subscriptions/${sub.data.subscription.subscription_id}`));
      await expectConforming(404, call('DELETE', `/2/activity/subscriptions/${sub.data.subscription.subscription_id}`));
      await expectConforming(401, call('DELETE', `/2/activity/subscriptions/${sub.data.subscription.subscription_id}`, { badSecret: true }));

      await expectConforming(200, call('DELETE', `/2/webhooks/${created.data.id}`));
      await expectConforming(404, call('DELETE', `/2/webhooks/${created.data.id}`));
      await expectConforming(401, call('DELETE', `/2/webhooks/${created.data.id}`, { badSecret: true }));
    });
  });

  describe('/2/media/upload and media in posts', () => {
    const PNG_HEAD = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
    const MP4_HEAD = Buffer.concat([Buffer.from([0, 0, 0, 20]), Buffer.from('ftypisom\0\0\0\0isom')]);
    const segment = (index: number, bytes: Buffer) => {
      const boundary = 'conformance-boundary';
      return {
        raw: Buffer.concat([
          Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="segment_index"\r\n\r\n${index}\r\n`),
          Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="media"; filename="blob"\r\nContent-Type: application/octet-stream\r\n\r\n`),
          bytes, Buffer.from(`\r\n--${boundary}--\r\n`),
        ]),
        contentType: `multipart/form-data; boundary=${boundary}`,
      };
    };
    async function uploaded(head: Buffer, mediaType: string, category: string): Promise<string> {
      const init = await expectConforming(200, call('POST', '/2/media/upload/initialize', { json: { media_type: mediaType, total_bytes: head.length, media_category: category } }));
      await expectConforming(200, call('POST', `/2/media/upload/${init.data.id}/append`, segment(0, head)));
      await expectConforming(200, call('POST', `/2/media/upload/${init.data.id}/finalize`));
      return init.data.id;
    }

    it('200 for initialize, append, finalize and STATUS, and 400, 401 and 429', async () => {
      const image = await uploaded(PNG_HEAD, 'image/png', 'tweet_image');
      emulator.state.media.setBehaviour({ video_processing_ms: 0 });
      const video = await uploaded(MP4_HEAD, 'video/mp4', 'tweet_video');
      const status = await expectConforming(200, call('GET', `/2/media/upload?command=STATUS&media_id=${video}`));
      assert.equal(status.data.processing_info.state, 'succeeded');
      await expectConforming(400, call('GET', '/2/media/upload?command=STATUS'));
      await expectConforming(400, call('GET', `/2/media/upload?command=STATUS&media_id=${image}1`));
      await expectConforming(401, call('GET', `/2/media/upload?command=STATUS&media_id=${video}`, { badSecret: true }));
      await expectConforming(400, call('POST', '/2/media/upload/initialize', { json: { media_type: 'text/plain', total_bytes: 10, media_category: 'tweet_image' } }));
      await expectConforming(400, call('POST', '/2/media/upload/initialize', { json: { media_type: 'image/png', total_bytes: 6 * 1024 * 1024, media_category: 'tweet_image' } }));
      await expectConforming(401, call('POST', '/2/media/upload/initialize', { json: { media_type: 'image/png', total_bytes: 10 }, badSecret: true }));
      await withLimitZero('POST /2/media/upload/initialize', async () => {
        await expectConforming(429, call('POST', '/2/media/upload/initialize', { json: { media_type: 'image/png', total_bytes: 10 } }));
      });
      await expectConforming(400, call('POST', `/2/media/upload/${image}/append`, segment(1, PNG_HEAD)));
      await expectConforming(401, call('POST', `/2/media/upload/${image}/append`, { ...segment(0, PNG_HEAD), badSecret: true }));
      await expectConforming(400, call('POST', '/2/media/upload/123/finalize'));
      await expectConforming(401, call('POST', `/2/media/upload/${image}/finalize`, { badSecret: true }));
    });

    it('201 for a post with media, 400 for media ids X does not take, and the media in its expansion', async () => {
      const image = await uploaded(PNG_HEAD, 'image/png', 'tweet_image');
      const posted = await expectConforming(201, call('POST', '/2/tweets', { json: { text: 'with a picture', media: { media_ids: [image] } } }));
      await expectConforming(400, call('POST', '/2/tweets', { json: { text: 'not mine', media: { media_ids: [image] } }, user: reader }));
      await expectConforming(400, call('POST', '/2/tweets', { json: { text: 'unknown', media: { media_ids: ['123'] } } }));
      const read = await expectConforming(200, call('GET', `/2/tweets/${posted.data.id}?tweet.fields=attachments&expansions=attachments.media_keys&media.fields=type,url,preview_image_url`));
      assert.equal(read.includes.media[0].type, 'photo');
      assert.deepEqual(read.data.attachments.media_keys, [read.includes.media[0].media_key]);
    });
  });

  describe('GET /2/dm_events and POST /2/dm_conversations/with/{participant_id}/messages', () => {
    it('201 and 200 with data, includes and next_token; 400, 401, 403 without the DM permission, and 429', async () => {
      const alice = emulator.state.findUser('alice')!;
      for (let i = 0; i < 3; i += 1) emulator.state.dms.sendAs({ as: 'alice', to: 'kb_sandbox', text: `question ${i}` });
      emulator.state.dms.sendAs({ as: 'alice', to: 'kb_sandbox', media: true });
      const sent = await expectConforming(201, call('POST', `/2/dm_conversations/with/${alice.id}/messages`, { json: { text: 'Thanks for writing' } }));
      assert.match(sent.data.dm_event_id, /^[0-9]+$/);
      const page = await expectConforming(200, call('GET', '/2/dm_events?max_results=2&dm_event.fields=id,text,sender_id,created_at,dm_conversation_id,attachments&expansions=sender_id&user.fields=username'));
      assert.equal(page.data.length, 2);
      assert.equal(page.data[0].id, sent.data.dm_event_id, 'newest first');
      assert.ok(page.meta.next_token);
      const rest = await expectConforming(200, call('GET', `/2/dm_events?max_results=100&pagination_token=${page.meta.next_token}&dm_event.fields=attachments,sender_id`));
      assert.equal(rest.data.length, 3);
      assert.equal(page.data[1].text, '');
      assert.equal(page.data[1].attachments.media_keys.length, 1, 'a media-only message carries its media key');
      await expectConforming(400, call('GET', '/2/dm_events?max_results=0'));
      await expectConforming(400, call('GET', '/2/dm_events?pagination_token=forged-token-of-16'));
      await expectConforming(400, call('POST', `/2/dm_conversations/with/${alice.id}/messages`, { json: { text: 'x'.repeat(10_001) } }));
      await expectConforming(400, call('POST', `/2/dm_conversations/with/${alice.id}/messages`, { json: {} }));
      await expectConforming(400, call('POST', '/2/dm_conversations/with/abc/messages', { json: { text: 'x' } }));
      await expectConforming(401, call('GET', '/2/dm_events', { badSecret: true }));
      await expectConforming(401, call('POST', `/2/dm_conversations/with/${alice.id}/messages`, { json: { text: 'x' }, badSecret: true }));
      emulator.state.dms.setPermission('kb_sandbox', false);
      const refused = await expectConforming(403, call('GET', '/2/dm_events'));
      assert.equal(refused.type, 'https://api.twitter.com/2/problems/oauth1-permissions');
      await expectConforming(403, call('POST', `/2/dm_conversations/with/${alice.id}/messages`, { json: { text: 'no permission' } }));
      emulator.state.dms.setPermission('kb_sandbox', true);
      await withLimitZero('GET /2/dm_events', async () => {
        await expectConforming(429, call('GET', '/2/dm_events'));
      });
      await withLimitZero('POST /2/dm_conversations/with/:id/messages', async () => {
        await expectConforming(429, call('POST', `/2/dm_conversations/with/${alice.id}/messages`, { json: { text: 'limited' } }));
      });
    });
  });

  // Child suites run after a suite's own tests, so the coverage check is a suite of its own, last.
  describe('coverage', () => {
   it('covered every operation with every status the emulator produces for it', () => {
    const expected = [
      'POST /2/tweets 201', 'POST /2/tweets 400', 'POST /2/tweets 401', 'POST /2/tweets 403', 'POST /2/tweets 429', 'POST /2/tweets 503',
      'DELETE /2/tweets/{id} 200', 'DELETE /2/tweets/{id} 400', 'DELETE /2/tweets/{id} 401', 'DELETE /2/tweets/{id} 403',
      'DELETE /2/tweets/{id} 404', 'DELETE /2/tweets/{id} 429',
      'GET /2/tweets 200', 'GET /2/tweets 400', 'GET /2/tweets 401', 'GET /2/tweets 403', 'GET /2/tweets 429',
      'GET /2/tweets/{id} 200', 'GET /2/tweets/{id} 400', 'GET /2/tweets/{id} 401', 'GET /2/tweets/{id} 403', 'GET /2/tweets/{id} 429',
      'GET /2/tweets/search/recent 200', 'GET /2/tweets/search/recent 400', 'GET /2/tweets/search/recent 401',
      'GET /2/tweets/search/recent 403', 'GET /2/tweets/search/recent 429',
      'GET /2/users/me 200', 'GET /2/users/me 400', 'GET /2/users/me 401', 'GET /2/users/me 429', 'GET /2/users/me 500',
      'GET /2/users/{id}/mentions 200', 'GET /2/users/{id}/mentions 400', 'GET /2/users/{id}/mentions 401',
      'GET /2/users/{id}/mentions 403', 'GET /2/users/{id}/mentions 429',
      'GET /2/users/{id}/tweets 200', 'GET /2/users/{id}/tweets 400', 'GET /2/users/{id}/tweets 401',
      'GET /2/users/{id}/tweets 403', 'GET /2/users/{id}/tweets 429',
      'POST /2/webhooks 200', 'POST /2/webhooks 400', 'POST /2/webhooks 401',
      'GET /2/webhooks 200', 'GET /2/webhooks 400', 'GET /2/webhooks 401', 'GET /2/webhooks 429',
      'PUT /2/webhooks/{webhook_id} 200', 'PUT /2/webhooks/{webhook_id} 400', 'PUT /2/webhooks/{webhook_id} 401', 'PUT /2/webhooks/{webhook_id} 404',
      'DELETE /2/webhooks/{webhook_id} 200', 'DELETE /2/webhooks/{webhook_id} 401', 'DELETE /2/webhooks/{webhook_id} 404',
      'POST /2/webhooks/replay 200', 'POST /2/webhooks/replay 400', 'POST /2/webhooks/replay 401', 'POST /2/webhooks/replay 404',
      'POST /2/activity/subscriptions 200', 'POST /2/activity/subscriptions 400', 'POST /2/activity/subscriptions 401', 'POST /2/activity/subscriptions 409',
      'GET /2/activity/subscriptions 200', 'GET /2/activity/subscriptions 400', 'GET /2/activity/subscriptions 401',
      'DELETE /2/activity/subscriptions/{subscription_id} 200', 'DELETE /2/activity/subscriptions/{subscription_id} 401', 'DELETE /2/activity/subscriptions/{subscription_id} 404',
      'POST /2/media/upload/initialize 200', 'POST /2/media/upload/initialize 400', 'POST /2/media/upload/initialize 401', 'POST /2/media/upload/initialize 429',
      'POST /2/media/upload/{id}/append 200', 'POST /2/media/upload/{id}/append 400', 'POST /2/media/upload/{id}/append 401',
      'POST /2/media/upload/{id}/finalize 200', 'POST /2/media/upload/{id}/finalize 400', 'POST /2/media/upload/{id}/finalize 401',
      'GET /2/media/upload 200', 'GET /2/media/upload 400', 'GET /2/media/upload 401',
      'GET /2/dm_events 200', 'GET /2/dm_events 400', 'GET /2/dm_events 401', 'GET /2/dm_events 403', 'GET /2/dm_events 429',
      'POST /2/dm_conversations/with/{participant_id}/messages 201', 'POST /2/dm_conversations/with/{participant_id}/messages 400',
      'POST /2/dm_conversations/with/{participant_id}/messages 401', 'POST /2/dm_conversations/with/{participant_id}/messages 403',
      'POST /2/dm_conversations/with/{participant_id}/messages 429',
    ];
    assert.deepEqual(expected.filter((key) => !covered.has(key)), []);
   });
  });
});
