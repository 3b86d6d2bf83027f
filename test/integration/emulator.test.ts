import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import express from 'express';
import { ApiPartialResponseError, ApiRequestError, ApiResponseError, type ITwitterApiClientPlugin, type TwitterApi } from 'twitter-api-v2';
import { createXApiEmulator, startEmulator, type StartedEmulator } from '../../src/emulator/emulator';
import { snowflakeAt, snowflakeTime } from '../../src/emulator/snowflake';
import type { CreatedUser, FaultRule } from '../../src/emulator/state';
import { createTwitterApi } from '../../src/twitter/x-client-factory';

const START = Date.parse('2026-11-22T14:03:00.000Z');
const SECOND = 1000;
const DAY = 24 * 60 * 60 * SECOND;
const REPO_ROOT = path.resolve(__dirname, '../..');

function clientFor(user: CreatedUser, baseUrl: string, override: Partial<CreatedUser['credentials']> = {}): TwitterApi {
  const c = { ...user.credentials, ...override };
  return createTwitterApi(
    { apiKey: c.api_key, apiKeySecret: c.api_key_secret, accessToken: c.access_token, accessTokenSecret: c.access_token_secret },
    baseUrl,
  );
}

/** Runs `call` and returns what it threw; fails the test when it does not throw. */
async function failure(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  assert.fail('expected the call to fail');
}

async function responseError(call: () => Promise<unknown>): Promise<ApiResponseError> {
  const error = await failure(call);
  assert.ok(error instanceof ApiResponseError, `expected ApiResponseError, got ${String(error)}`);
  return error;
}

/** The first entry of an invalid-request problem's `errors`, where X says what was wrong. */
function firstMessage(error: ApiResponseError): string {
  return String((error.data as { errors?: Array<{ message?: string }> }).errors?.[0]?.message);
}

describe('X API emulator, spoken to by the real twitter-api-v2 client', function () {
  let emulator: StartedEmulator;
  let clock = START;
  let kb: CreatedUser;
  let client: TwitterApi;

  async function control(method: string, route: string, body?: unknown): Promise<{ status: number; body: any }> {
    const res = await fetch(`${emulator.url}/_emulator${route}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  }

  function tick(ms = SECOND): void {
    clock += ms;
  }

  before(async () => {
    emulator = await startEmulator({ port: 0, now: () => clock });
  });

  after(async () => {
    await emulator.close();
  });

  beforeEach(() => {
    clock = START;
    emulator.state.reset();
    kb = emulator.state.createUser({ username: 'kb_sandbox', name: 'KB sandbox' });
    client = clientFor(kb, emulator.url);
  });

  describe('posting', () => {
    it('creates a tweet whose snowflake id encodes the clock and answers with X 201 shape', async () => {
      const posted = await client.v2.tweet('First record');
      assert.deepEqual(Object.keys(posted.data).sort(), ['edit_history_tweet_ids', 'id', 'text']);
      assert.equal(posted.data.text, 'First record');
      assert.deepEqual((posted.data as { edit_history_tweet_ids?: string[] }).edit_history_tweet_ids, [posted.data.id]);
      assert.equal(snowflakeTime(posted.data.id), START);

      const read = await client.v2.singleTweet(posted.data.id, { 'tweet.fields': ['created_at', 'author_id', 'conversation_id'] });
      assert.equal(read.data.created_at, '2026-11-22T14:03:00.000Z');
      assert.equal(read.data.author_id, kb.id);
      assert.equal(read.data.conversation_id, posted.data.id);
    });

    it('hands out strictly increasing ids even when the clock stands still', async () => {
      const a = await client.v2.tweet('one');
      const b = await client.v2.tweet('two');
      assert.ok(BigInt(b.data.id) > BigInt(a.data.id));
    });

    it('only sends the tweet fields that were asked for', async () => {
      const posted = await client.v2.tweet('fields');
      const bare = await client.v2.singleTweet(posted.data.id);
      assert.deepEqual(Object.keys(bare.data).sort(), ['edit_history_tweet_ids', 'id', 'text']);
    });

    it("gives replies their parent's conversation, in_reply_to_user_id and replied_to reference", async () => {
      const root = await client.v2.tweet('Root record');
      tick();
      const alice = await control('POST', '/tweets', { as: 'alice', text: 'I agree', in_reply_to_tweet_id: root.data.id });
      assert.equal(alice.status, 201);
      assert.equal(alice.body.text, '@kb_sandbox I agree');
      tick();
      const bob = await control('POST', '/tweets', { as: 'bob', text: 'Me too', in_reply_to_tweet_id: alice.body.id });
      assert.equal(bob.body.text, '@alice @kb_sandbox Me too');
      tick();
      const ours = await client.v2.reply('Thanks', bob.body.id);

      const read = await client.v2.tweets([alice.body.id, bob.body.id, ours.data.id], {
        'tweet.fields': ['conversation_id', 'in_reply_to_user_id', 'referenced_tweets', 'author_id'],
      });
      const [a, b, o] = read.data;
      for (const t of [a, b, o]) assert.equal(t.conversation_id, root.data.id);
      assert.equal(a.in_reply_to_user_id, kb.id);
      assert.deepEqual(a.referenced_tweets, [{ type: 'replied_to', id: root.data.id }]);
      assert.equal(b.in_reply_to_user_id, alice.body.author_id);
      assert.deepEqual(o.referenced_tweets, [{ type: 'replied_to', id: bob.body.id }]);
      assert.equal(o.in_reply_to_user_id, bob.body.author_id);
    });

    it('refuses the same text from the same author within 24 hours with X duplicate 403', async () => {
      await client.v2.tweet('Same words');
      tick(DAY - 1);
      const error = await responseError(() => client.v2.tweet('Same words'));
      assert.equal(error.code, 403);
      assert.deepEqual(error.data, {
        title: 'Forbidden',
        detail: 'You are not allowed to create a Tweet with duplicate content.',
        type: 'about:blank',
        status: 403,
      });
      assert.equal((await control('POST', '/tweets', { as: 'alice', text: 'Same words' })).status, 201, 'another author may say it');
      tick(2);
      await client.v2.tweet('Same words');
      assert.equal(emulator.state.listTweets({ author: 'kb_sandbox' }).length, 2);
    });

    it('refuses 141 CJK characters (282 weighted) with 400 and accepts 140', async () => {
      const error = await responseError(() => client.v2.tweet('漢'.repeat(141)));
      assert.equal(error.code, 400);
      assert.equal(error.data.type, 'https://api.x.com/2/problems/invalid-request');
      assert.match(firstMessage(error), /too long/);
      assert.equal(emulator.state.listTweets().length, 0);
      await client.v2.tweet('漢'.repeat(140));
      assert.equal(emulator.state.listTweets().length, 1);
    });

    it('refuses empty text and replies to tweets that do not exist with 400', async () => {
      assert.equal((await responseError(() => client.v2.tweet('   '))).code, 400);
      assert.equal((await responseError(() => client.v2.reply('hello', '12345'))).code, 400);
      assert.equal(emulator.state.listTweets().length, 0);
    });

    it("deletes the author's own tweets and refuses to delete anyone else's", async () => {
      const own = await client.v2.tweet('to delete');
      const foreign = emulator.state.postAs({ as: 'alice', text: 'mine' });
      assert.deepEqual((await client.v2.deleteTweet(own.data.id)).data, { deleted: true });
      assert.equal(emulator.state.getTweet(own.data.id), undefined);
      assert.equal((await responseError(() => client.v2.deleteTweet(foreign.id))).code, 403);
      assert.equal((await responseError(() => client.v2.deleteTweet(own.data.id))).code, 404);
    });
  });

  describe('reading', () => {
    it('pages mentions newest first with pagination_token and honours since_id', async () => {
      const posted: string[] = [];
      for (let i = 0; i < 12; i += 1) {
        tick();
        posted.push(emulator.state.postAs({ as: 'alice', text: `hey @kb_sandbox number ${i}` }).id);
      }
      tick();
      posted.push(emulator.state.postAs({ as: 'bob', text: 'HEY @KB_SANDBOX, shouting' }).id);
      emulator.state.postAs({ as: 'bob', text: 'not for @kb_sandboxer' });
      emulator.state.postAs({ as: 'bob', text: 'email kb_sandbox@example.com' });
      emulator.state.postAs({ as: 'bob', text: 'no mention at all' });
      emulator.state.resetCalls();

      const seen: string[] = [];
      const timeline = await client.v2.userMentionTimeline(kb.id, { max_results: 5, expansions: ['author_id'], 'tweet.fields': ['author_id'] });
      for await (const tweet of timeline) seen.push(tweet.id);
      assert.deepEqual(seen, [...posted].reverse());
      assert.equal(emulator.state.getCalls().by_endpoint['GET /2/users/:id/mentions'], 3);
      // The paginator concatenates each page's includes; every page named its authors.
      assert.deepEqual([...new Set(timeline.includes.users.map((u) => u.username))].sort(), ['alice', 'bob']);

      const newer = await client.v2.userMentionTimeline(kb.id, { since_id: posted[9] });
      assert.deepEqual(newer.tweets.map((t) => t.id), posted.slice(10).reverse());
      assert.equal(newer.meta.newest_id, posted[12]);
      assert.equal(newer.meta.oldest_id, posted[10]);

      const none = await client.v2.userMentionTimeline(kb.id, { since_id: posted[12] });
      assert.deepEqual(none.data.meta, { result_count: 0 });
      assert.equal(none.data.data, undefined);
    });

    it('only ever reaches the 800 newest mentions', async () => {
      for (let i = 0; i < 805; i += 1) emulator.state.postAs({ as: 'alice', text: `@kb_sandbox ping ${i}` });
      const timeline = await client.v2.userMentionTimeline(kb.id, { max_results: 100 });
      await timeline.fetchLast(Infinity);
      assert.equal(timeline.tweets.length, 800);
      assert.equal(timeline.tweets[799].text, '@kb_sandbox ping 5');
    });

    it('answers 400 for max_results outside 5..100 on mentions', async () => {
      const error = await responseError(() => client.v2.userMentionTimeline(kb.id, { max_results: 4 }));
      assert.equal(error.code, 400);
      assert.match(firstMessage(error), /max_results.*between 5 and 100/);
      assert.equal((await responseError(() => client.v2.userMentionTimeline(kb.id, { max_results: 101 }))).code, 400);
    });

    it("lists the user's own tweets newest first, filtered by since_id and start_time", async () => {
      const ids: string[] = [];
      for (let i = 0; i < 4; i += 1) {
        tick(60 * SECOND);
        ids.push((await client.v2.tweet(`record ${i}`)).data.id);
      }
      emulator.state.postAs({ as: 'alice', text: 'not kb' });
      const all = await client.v2.userTimeline(kb.id, { max_results: 5 });
      assert.deepEqual(all.tweets.map((t) => t.id), [...ids].reverse());
      const since = await client.v2.userTimeline(kb.id, { since_id: ids[1] });
      assert.deepEqual(since.tweets.map((t) => t.id), [ids[3], ids[2]]);
      const fromTime = await client.v2.userTimeline(kb.id, { start_time: new Date(START + 3 * 60 * SECOND).toISOString() });
      assert.deepEqual(fromTime.tweets.map((t) => t.text), ['record 3', 'record 2']);
    });

    it('searches OR-ed conversation ids, leaves out -from tweets and pages with next_token', async () => {
      const roots = [];
      for (let i = 0; i < 3; i += 1) roots.push((await client.v2.tweet(`root ${i}`)).data.id);
      const expected: string[] = [];
      for (let i = 0; i < 25; i += 1) {
        tick();
        expected.push(emulator.state.postAs({ as: i % 2 ? 'alice' : 'bob', text: `reply ${i}`, in_reply_to_tweet_id: roots[i % 3] }).id);
      }
      await client.v2.reply('our own reply', roots[0]);
      emulator.state.postAs({ as: 'alice', text: 'unrelated' });
      const other = await client.v2.tweet('root not searched');
      emulator.state.postAs({ as: 'bob', text: 'elsewhere', in_reply_to_tweet_id: other.data.id });

      const query = `(${roots.map((id) => `conversation_id:${id}`).join(' OR ')}) -from:kb_sandbox`;
      emulator.state.resetCalls();
      const first = await client.v2.search(query, { max_results: 10, 'tweet.fields': ['conversation_id'] });
      const seen = first.tweets.map((t) => t.id);
      const token = first.meta.next_token;
      assert.ok(token, 'a first page of 10 out of 25 carries next_token');
      const second = await client.v2.get('tweets/search/recent', { query, max_results: 10, next_token: token });
      seen.push(...second.data.map((t: { id: string }) => t.id));
      const rest = await client.v2.get('tweets/search/recent', { query, max_results: 10, next_token: second.meta.next_token });
      seen.push(...rest.data.map((t: { id: string }) => t.id));
      assert.equal(rest.meta.next_token, undefined);
      assert.deepEqual(seen, [...expected].reverse());
      assert.equal(emulator.state.getCalls().by_endpoint['GET /2/tweets/search/recent'], 3);

      const replies = await client.v2.search(`conversation_id:${roots[0]} is:reply from:kb_sandbox`);
      assert.deepEqual(replies.tweets.map((t) => t.text), ['our own reply']);
    });

    it('searches only the last 7 days and refuses long queries, unknown operators and an old since_id', async () => {
      const root = (await client.v2.tweet('old root')).data.id;
      emulator.state.postAs({ as: 'alice', text: 'too old', in_reply_to_tweet_id: root, created_at: new Date(START - 8 * DAY).toISOString() });
      const fresh = emulator.state.postAs({ as: 'alice', text: 'fresh', in_reply_to_tweet_id: root });
      const found = await client.v2.search(`conversation_id:${root} -from:kb_sandbox`);
      assert.deepEqual(found.tweets.map((t) => t.id), [fresh.id]);

      const long = Array.from({ length: 30 }, () => `conversation_id:${root}`).join(' OR ');
      assert.ok(long.length > 512);
      assert.equal((await responseError(() => client.v2.search(long))).code, 400);
      const badOperator = await responseError(() => client.v2.search('frm:alice'));
      assert.match(firstMessage(badOperator), /invalid operator 'frm'/);
      const oldId = snowflakeAt(START - 8 * DAY).toString();
      assert.equal((await responseError(() => client.v2.search(`conversation_id:${root}`, { since_id: oldId }))).code, 400);
      assert.equal((await responseError(() => client.v2.search('x', { max_results: 9 }))).code, 400);
    });

    it('looks up tweets by ids, putting missing ids in errors', async () => {
      const a = (await client.v2.tweet('a')).data.id;
      const b = (await client.v2.tweet('b')).data.id;
      const result = await client.v2.tweets([a, '1234567890', b]);
      assert.deepEqual(result.data.map((t) => t.id), [a, b]);
      assert.equal(result.errors?.length, 1);
      assert.deepEqual(result.errors?.[0], {
        value: '1234567890',
        detail: 'Could not find tweet with ids: [1234567890].',
        title: 'Not Found Error',
        resource_type: 'tweet',
        parameter: 'ids',
        resource_id: '1234567890',
        type: 'https://api.x.com/2/problems/resource-not-found',
      });
    });

    it('answers /2/users/me with the account and requested user fields', async () => {
      const me = await client.v2.me({ 'user.fields': ['created_at', 'description'] });
      assert.deepEqual(me.data, { id: kb.id, name: 'KB sandbox', username: 'kb_sandbox', created_at: '2026-11-22T14:03:00.000Z', description: '' });
      assert.equal((await responseError(() => client.v2.me({ 'user.fields': ['shoe_size' as never] }))).code, 400);
    });
  });

  describe('authentication and access levels', () => {
    const unauthorized = { title: 'Unauthorized', detail: 'Unauthorized', type: 'about:blank', status: 401 };

    it('answers 401 to a wrong consumer secret and creates nothing', async () => {
      const error = await responseError(() => clientFor(kb, emulator.url, { api_key_secret: 'wrong' }).v2.tweet('nope'));
      assert.equal(error.code, 401);
      assert.deepEqual(error.data, unauthorized);
      assert.equal(emulator.state.listTweets().length, 0);
    });

    it('answers 401 to a wrong token secret, an unknown token and an unknown consumer key', async () => {
      assert.equal((await responseError(() => clientFor(kb, emulator.url, { access_token_secret: 'wrong' }).v2.me())).code, 401);
      assert.equal((await responseError(() => clientFor(kb, emulator.url, { access_token: 'unknown' }).v2.me())).code, 401);
      assert.equal((await responseError(() => clientFor(kb, emulator.url, { api_key: 'unknown' }).v2.me())).code, 401);
      const res = await fetch(`${emulator.url}/2/users/me`);
      assert.equal(res.status, 401);
    });

    it('answers 401 once the tokens are revoked, until they are restored', async () => {
      await client.v2.me();
      assert.equal((await control('POST', '/users/kb_sandbox/revoke')).status, 200);
      assert.deepEqual((await responseError(() => client.v2.tweet('after revoke'))).data, unauthorized);
      assert.equal((await control('POST', '/users/kb_sandbox/restore')).status, 200);
      await client.v2.tweet('after restore');
    });

    it('refuses writes from a read-only app with the oauth1-permissions problem', async () => {
      assert.equal((await control('POST', '/users/kb_sandbox/access', { level: 'read-only' })).status, 200);
      const error = await responseError(() => client.v2.tweet('read only'));
      assert.equal(error.code, 403);
      assert.equal(error.data.type, 'https://api.twitter.com/2/problems/oauth1-permissions');
      await client.v2.userMentionTimeline(kb.id);
    });

    it('refuses reads from an app without read access with client-not-enrolled, but lets it post', async () => {
      emulator.state.setAccessLevel('kb_sandbox', 'no-read');
      const error = await responseError(() => client.v2.userMentionTimeline(kb.id));
      assert.equal(error.code, 403);
      assert.equal(error.data.type, 'https://api.twitter.com/2/problems/client-forbidden');
      assert.equal((error.data as unknown as { reason: string }).reason, 'client-not-enrolled');
      assert.equal((await responseError(() => client.v2.search('conversation_id:1'))).code, 403);
      await client.v2.tweet('posting still works');
      await client.v2.me();
    });
  });

  describe("the emulator's clock", () => {
    const iso = (ms: number) => new Date(ms).toISOString();

    it('is read, set and moved forward through /_emulator/clock, and runs on from there', async () => {
      assert.deepEqual((await control('GET', '/clock')).body, { now: iso(START), offset_ms: 0 });
      const later = START + 40 * DAY;
      assert.deepEqual((await control('POST', '/clock', { now: iso(later) })).body, { now: iso(later), offset_ms: 40 * DAY });
      tick(5 * SECOND);
      assert.equal((await control('GET', '/clock')).body.now, iso(later + 5 * SECOND), 'it keeps running');
      assert.equal((await control('POST', '/clock', { advance_ms: 90 * SECOND })).body.now, iso(later + 95 * SECOND));
      const posted = await client.v2.tweet('made at the new time');
      assert.equal(snowflakeTime(posted.data.id), later + 95 * SECOND, 'ids encode it');
      const read = await client.v2.singleTweet(posted.data.id, { 'tweet.fields': ['created_at'] });
      assert.equal(read.data.created_at, iso(later + 95 * SECOND), 'created_at defaults to it');
      assert.equal((await control('POST', '/clock', { now: '2026-11-22T15:03:00+01:00' })).body.now, iso(START), 'zones are understood, and it may go back');
      assert.ok(BigInt((await client.v2.tweet('after going back')).data.id) > BigInt(posted.data.id), 'ids still only grow');
      await control('POST', '/clock', { advance_ms: DAY });
      await control('POST', '/reset');
      assert.equal((await control('GET', '/clock')).body.now, iso(START + 5 * SECOND), 'reset returns it to its start (run on by the 5 s that passed)');
    });

    it('refuses a change it cannot read with a 400 that says what to send', async () => {
      for (const [change, message] of [
        [{}, /give either now \(an ISO-8601 time with a zone\) or advance_ms/],
        [{ now: iso(START), advance_ms: 5 }, /not both or neither/],
        [{ now: 'next tuesday' }, /now must be an ISO-8601 time with a zone, e\.g\. 2026-12-01T09:00:00Z, not "next tuesday"/],
        [{ now: '2026-11-22T14:03:00' }, /now must be an ISO-8601 time with a zone/],
        [{ now: 1796112000000 }, /now must be an ISO-8601 time with a zone/],
        [{ advance_ms: -1 }, /advance_ms must be a whole number of milliseconds, 0 or more \(set now to go back\), not -1/],
        [{ advance_ms: '60000' }, /advance_ms must be a whole number/],
        [{ advance_ms: 1.5 }, /advance_ms must be a whole number/],
      ] as const) {
        const refused = await control('POST', '/clock', change);
        assert.equal(refused.status, 400, JSON.stringify(change));
        assert.match(refused.body.error, message);
      }
      assert.equal((await control('GET', '/clock')).body.now, iso(START), 'nothing changed');
    });

    it("moves search's 7 days, rate-limit windows and the 24-hour duplicate memory with it", async () => {
      const root = (await client.v2.tweet('a root')).data.id;
      const reply = emulator.state.postAs({ as: 'alice', text: 'a reply', in_reply_to_tweet_id: root });
      emulator.state.setRateLimit({ endpoint: 'GET /2/users/:id/mentions', limit: 1, window_seconds: 60 });
      await client.v2.userMentionTimeline(kb.id);
      assert.equal((await responseError(() => client.v2.userMentionTimeline(kb.id))).code, 429);
      assert.equal((await responseError(() => client.v2.tweet('a root'))).code, 403, 'a duplicate within 24 hours');

      await control('POST', '/clock', { advance_ms: 61 * SECOND });
      await client.v2.userMentionTimeline(kb.id); // the window is over by the emulator's clock
      const found = await client.v2.search(`conversation_id:${root} -from:kb_sandbox`);
      assert.deepEqual(found.tweets.map((t) => t.id), [reply.id]);

      await control('POST', '/clock', { advance_ms: 8 * DAY });
      assert.deepEqual((await client.v2.search(`conversation_id:${root} -from:kb_sandbox`)).tweets, [], 'eight days later the reply is out of reach');
      assert.equal((await responseError(() => client.v2.search(`conversation_id:${root}`, { since_id: reply.id }))).code, 400, 'and so is its id');
      await client.v2.tweet('a root'); // no longer a duplicate
    });
  });

  describe('rate limits', () => {
    it('sends x-rate-limit headers on every call and 429 once the window is used up, until it resets', async () => {
      await control('POST', '/rate-limits', { endpoint: 'GET /2/users/me', limit: 2 });
      const reset = Math.ceil((START + 15 * 60 * SECOND) / 1000);
      const first = await client.v2.get('users/me', undefined, { fullResponse: true });
      assert.deepEqual(first.rateLimit, { limit: 2, remaining: 1, reset });
      tick();
      const second = await client.v2.get('users/me', undefined, { fullResponse: true });
      assert.deepEqual(second.rateLimit, { limit: 2, remaining: 0, reset });
      const error = await responseError(() => client.v2.me());
      assert.equal(error.code, 429);
      assert.deepEqual(error.data, { title: 'Too Many Requests', detail: 'Too Many Requests', type: 'about:blank', status: 429 });
      assert.deepEqual(error.rateLimit, { limit: 2, remaining: 0, reset });
      assert.equal(error.rateLimitError, true);

      clock = reset * 1000;
      const fresh = await client.v2.get('users/me', undefined, { fullResponse: true });
      assert.equal(fresh.rateLimit?.remaining, 1);
    });

    it("uses X's default limits and keeps each user's window separate", async () => {
      const posted = await client.v2.post('tweets', { text: 'counting' }, { fullResponse: true });
      assert.equal(posted.rateLimit?.limit, 100);
      assert.equal(posted.rateLimit?.remaining, 99);
      emulator.state.setRateLimit({ endpoint: 'GET /2/users/:id/mentions', limit: 1, window_seconds: 60 });
      await client.v2.userMentionTimeline(kb.id);
      assert.equal((await responseError(() => client.v2.userMentionTimeline(kb.id))).code, 429);
      const other = emulator.state.createUser({ username: 'other' });
      await clientFor(other, emulator.url).v2.userMentionTimeline(kb.id);
      tick(60 * SECOND);
      await client.v2.userMentionTimeline(kb.id);
    });
  });

  describe('faults', () => {
    async function addFaults(rules: FaultRule[]): Promise<void> {
      const res = await control('POST', '/faults', { rules });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }

    it('lost_response creates the tweet but the client only sees a network error', async () => {
      await addFaults([{ endpoint: 'POST /2/tweets', kind: 'lost_response' }]);
      const error = await failure(() => client.v2.tweet('lost'));
      assert.ok(error instanceof ApiRequestError, String(error));
      assert.deepEqual(emulator.state.listTweets().map((t) => t.text), ['lost']);
      await client.v2.tweet('next one is fine');
    });

    it('drop closes the connection before acting, so nothing is created', async () => {
      await addFaults([{ endpoint: 'POST /2/tweets', kind: 'drop' }]);
      assert.ok((await failure(() => client.v2.tweet('dropped'))) instanceof ApiRequestError);
      assert.equal(emulator.state.listTweets().length, 0);
    });

    it('status answers with the given status and a problem body without acting', async () => {
      await addFaults([{ endpoint: 'POST /2/tweets', kind: 'status', status: 503 }]);
      const error = await responseError(() => client.v2.tweet('unavailable'));
      assert.equal(error.code, 503);
      assert.deepEqual(error.data, { title: 'Service Unavailable', detail: 'Service Unavailable', type: 'about:blank', status: 503 });
      assert.equal(emulator.state.listTweets().length, 0);
    });

    it('malformed_json answers 200 with a body that is not JSON', async () => {
      await addFaults([{ endpoint: 'GET /2/users/me', kind: 'malformed_json' }]);
      const error = await failure(() => client.v2.me());
      assert.ok(error instanceof ApiPartialResponseError, String(error));
      assert.equal(error.response.statusCode, 200);
      assert.throws(() => JSON.parse(error.rawContent));
    });

    it('truncated promises more bytes than it sends, then closes the connection', async () => {
      await addFaults([{ endpoint: 'GET /2/users/me', kind: 'truncated' }]);
      const error = await failure(() => client.v2.me());
      assert.ok(error instanceof ApiPartialResponseError, String(error));
      assert.ok(Number(error.response.headers['content-length']) > Buffer.byteLength(error.rawContent));
    });

    it('latency delays the answer by the given milliseconds, for one call by default', async () => {
      await addFaults([{ endpoint: 'GET /2/users/me', kind: 'latency', ms: 300 }]);
      const started = performance.now();
      const held = await client.v2.get('users/me', undefined, { fullResponse: true });
      // A lower bound only: a slow machine can make the call longer, never shorter.
      assert.ok(performance.now() - started >= 290, 'the answer came no sooner than the delay');
      assert.equal(held.headers['x-emulator-delay-ms'], '300', 'the emulator says it held this answer 300 ms');
      const next = await client.v2.get('users/me', undefined, { fullResponse: true });
      assert.equal(next.headers['x-emulator-delay-ms'], undefined, 'one call only by default');
      assert.equal(next.data.data.username, 'kb_sandbox');
    });

    it('latency with afterWork creates the tweet at once and holds only its answer', async () => {
      await addFaults([{ endpoint: 'POST /2/tweets', kind: 'latency', ms: 400, afterWork: true }]);
      let answered = false;
      const posting = client.v2.post('tweets', { text: 'made, answer held' }, { fullResponse: true }).finally(() => { answered = true; });
      while (emulator.state.listTweets().length === 0 && !answered) await new Promise((resolve) => setTimeout(resolve, 5));
      // Seen on X while the answer is still held: the window a crash before the commit falls in.
      assert.deepEqual(emulator.state.listTweets().map((t) => t.text), ['made, answer held']);
      assert.equal(answered, false, 'the tweet was there before its answer came back');
      const held = await posting;
      assert.equal(held.headers['x-emulator-delay-ms'], '400');
      assert.equal(held.data.data.text, 'made, answer held');
    });

    it('afterWork is refused on a rule that is not latency', async () => {
      const res = await control('POST', '/faults', { rules: [{ endpoint: 'POST /2/tweets', kind: 'status', status: 503, afterWork: true }] });
      assert.equal(res.status, 400);
      assert.match(JSON.stringify(res.body), /afterWork is true or false, on a latency rule only/);
    });

    it('rate_limit answers 429 and keeps answering 429 for that endpoint until its reset', async () => {
      await addFaults([{ endpoint: 'GET /2/users/:id/mentions', kind: 'rate_limit', resetInSeconds: 120 }]);
      const error = await responseError(() => client.v2.userMentionTimeline(kb.id));
      assert.equal(error.code, 429);
      assert.equal(error.rateLimit?.reset, Math.ceil(START / 1000) + 120);
      assert.equal((await responseError(() => client.v2.userMentionTimeline(kb.id))).code, 429);
      await client.v2.me();
      tick(121 * SECOND);
      await client.v2.userMentionTimeline(kb.id);
    });

    it('applies a rule to `count` calls, honours probability, "*" and a per-user filter', async () => {
      await addFaults([{ endpoint: 'GET /2/users/me', kind: 'status', status: 500, count: 2 }]);
      assert.equal((await responseError(() => client.v2.me())).code, 500);
      assert.equal((await responseError(() => client.v2.me())).code, 500);
      await client.v2.me();

      await addFaults([{ endpoint: '*', kind: 'status', status: 502, probability: 0 }]);
      await client.v2.me();
      await control('DELETE', '/faults');

      await addFaults([{ endpoint: '*', kind: 'status', status: 502, username: 'other' }]);
      await client.v2.me();
      const other = emulator.state.createUser({ username: 'other' });
      assert.equal((await responseError(() => clientFor(other, emulator.url).v2.me())).code, 502);
    });

    it('never applies faults to the control paths', async () => {
      await addFaults([{ endpoint: '*', kind: 'drop', probability: 1 }]);
      assert.equal((await control('GET', '/calls')).status, 200);
      assert.equal((await control('POST', '/tweets', { as: 'alice', text: 'still works' })).status, 201);
      assert.ok((await failure(() => client.v2.me())) instanceof ApiRequestError);
      await control('DELETE', '/faults');
    });

    it('counts every X API call per endpoint, faulted ones included', async () => {
      await control('DELETE', '/calls');
      await addFaults([{ endpoint: 'POST /2/tweets', kind: 'drop' }]);
      await failure(() => client.v2.tweet('dropped'));
      await client.v2.tweet('kept');
      await client.v2.me();
      await failure(() => clientFor(kb, emulator.url, { access_token_secret: 'bad' }).v2.me());
      assert.deepEqual((await control('GET', '/calls')).body, { total: 4, by_endpoint: { 'POST /2/tweets': 2, 'GET /2/users/me': 2 } });
      assert.deepEqual((await control('DELETE', '/calls')).body, { total: 0, by_endpoint: {} });
    });

    it('refuses fault rules it does not understand', async () => {
      assert.equal((await control('POST', '/faults', { rules: [{ endpoint: 'GET /2/nowhere', kind: 'drop' }] })).status, 400);
      assert.equal((await control('POST', '/faults', { rules: [{ endpoint: '*', kind: 'explode' }] })).status, 400);
      assert.equal((await control('POST', '/faults', { rules: [{ endpoint: '*', kind: 'status' }] })).status, 400);
    });
  });

  describe('control endpoints', () => {
    it('creates users with random or given credentials and refuses a taken username', async () => {
      const random = await control('POST', '/users', { username: 'second' });
      assert.equal(random.status, 201);
      assert.deepEqual(Object.keys(random.body.credentials).sort(), ['access_token', 'access_token_secret', 'api_key', 'api_key_secret']);
      assert.equal(random.body.name, 'second');
      const given = await control('POST', '/users', {
        username: 'third',
        name: 'Third',
        consumer_key: 'ck',
        consumer_secret: 'cs',
        access_token: 'at',
        access_token_secret: 'ats',
      });
      assert.deepEqual(given.body.credentials, { api_key: 'ck', api_key_secret: 'cs', access_token: 'at', access_token_secret: 'ats' });
      const me = await clientFor(given.body, emulator.url).v2.me();
      assert.equal(me.data.username, 'third');
      assert.equal((await control('POST', '/users', { username: 'THIRD' })).status, 409);
      assert.equal((await control('POST', '/users', { username: 'not a handle' })).status, 400);
    });

    it('posts as other users, optionally without the mention prefix and with a fixed created_at', async () => {
      const root = await client.v2.tweet('root');
      const plain = await control('POST', '/tweets', { as: 'carol', text: 'no prefix', in_reply_to_tweet_id: root.data.id, mention: false });
      assert.equal(plain.body.text, 'no prefix');
      assert.equal(plain.body.author_username, 'carol');
      const dated = await control('POST', '/tweets', { as: 'carol', text: 'dated', created_at: '2026-11-20T09:00:00.000Z' });
      assert.equal(dated.body.created_at, '2026-11-20T09:00:00.000Z');
      assert.ok(BigInt(dated.body.id) > BigInt(plain.body.id));
      assert.equal((await control('POST', '/tweets', { as: 'carol', text: 'x', in_reply_to_tweet_id: '42' })).status, 400);
      assert.equal((await control('POST', '/tweets', { as: 'carol', text: 'no prefix' })).status, 403, 'duplicate of her reply');
      assert.equal((await control('POST', '/tweets', { as: 'carol', text: 'dated' })).status, 201, 'the dated one is older than 24 h');
    });

    it('lists tweets oldest first, by author, and one by id', async () => {
      const a = await client.v2.tweet('a');
      tick();
      emulator.state.postAs({ as: 'alice', text: 'b' });
      tick();
      await client.v2.tweet('c');
      const all = await control('GET', '/tweets');
      assert.deepEqual(all.body.tweets.map((t: { text: string }) => t.text), ['a', 'b', 'c']);
      const mine = await control('GET', '/tweets?author=kb_sandbox');
      assert.deepEqual(mine.body.tweets.map((t: { text: string }) => t.text), ['a', 'c']);
      const one = await control('GET', `/tweets/${a.data.id}`);
      assert.deepEqual(one.body, {
        id: a.data.id,
        text: 'a',
        author_id: kb.id,
        author_username: 'kb_sandbox',
        created_at: '2026-11-22T14:03:00.000Z',
        conversation_id: a.data.id,
        edit_history_tweet_ids: [a.data.id],
      });
      assert.equal((await control('GET', '/tweets/999')).status, 404);
    });

    it("shows a user's timeline newest first with each tweet's whole conversation", async () => {
      const first = await client.v2.tweet('first');
      tick();
      const second = await client.v2.tweet('second');
      tick();
      const r1 = emulator.state.postAs({ as: 'alice', text: 'on first', in_reply_to_tweet_id: first.data.id });
      tick();
      emulator.state.postAs({ as: 'bob', text: 'on alice', in_reply_to_tweet_id: r1.id });
      const view = (await control('GET', '/timeline/kb_sandbox')).body;
      assert.equal(view.user.username, 'kb_sandbox');
      assert.deepEqual(view.tweets.map((t: { id: string }) => t.id), [second.data.id, first.data.id]);
      assert.deepEqual(view.tweets[1].replies.map((t: { text: string }) => t.text), ['@kb_sandbox on first', '@alice @kb_sandbox on alice']);
      assert.deepEqual(view.tweets[0].replies, []);
      assert.equal((await control('GET', '/timeline/nobody')).status, 404);
    });

    it('resets everything to empty', async () => {
      await client.v2.tweet('before reset');
      await control('POST', '/faults', { rules: [{ endpoint: '*', kind: 'drop' }] });
      assert.deepEqual((await control('POST', '/reset')).body, { ok: true });
      assert.deepEqual((await control('GET', '/tweets')).body, { tweets: [] });
      assert.deepEqual((await control('GET', '/users')).body, { users: [] });
      assert.deepEqual((await control('GET', '/faults')).body, { faults: [] });
      assert.deepEqual((await control('GET', '/calls')).body, { total: 0, by_endpoint: {} });
      assert.equal((await responseError(() => client.v2.me())).code, 401);
    });

    it('answers bad JSON on a control path with a 400 and a message', async () => {
      const res = await fetch(`${emulator.url}/_emulator/tweets`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
      assert.equal(res.status, 400);
      assert.ok(typeof ((await res.json()) as { error: string }).error === 'string');
    });
  });
});

describe('X API emulator, hosted in other ways', () => {
  it('works mounted under a sub-path, with OAuth checked against the full URL', async () => {
    const { router, state } = createXApiEmulator();
    const app = express();
    app.use('/sandbox/x', router);
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sandbox/x`;
      const user = state.createUser({ username: 'mounted' });
      const c = user.credentials;
      const credentials = { apiKey: c.api_key, apiKeySecret: c.api_key_secret, accessToken: c.access_token, accessTokenSecret: c.access_token_secret };
      // The project's client keeps JSON bodies under a path prefix; a form body is refused, as X does.
      const mounted = createTwitterApi(credentials, base);
      const sendsForm: ITwitterApiClientPlugin = { onBeforeRequestConfig({ params }) { params.forceBodyMode = 'url'; } };
      const formBody = await responseError(() => createTwitterApi(credentials, base, [sendsForm]).v2.tweet('form-encoded'));
      assert.equal(formBody.code, 400);
      assert.match(firstMessage(formBody), /content-type of application\/json/);
      const posted = await mounted.v2.tweet('from a sub-path');
      const reply = await fetch(`${base}/_emulator/tweets`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ as: 'alice', text: 'hi', in_reply_to_tweet_id: posted.data.id }),
      });
      assert.equal(reply.status, 201);
      const mentions = await mounted.v2.userMentionTimeline(user.id);
      assert.equal(mentions.tweets[0].text, '@mounted hi');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('runs as its own process, prints its URL as one JSON line and starts its clock where --clock says', async function () {
    this.timeout(20000);
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/emulator/main.ts', '--port', '0', '--clock', '2031-05-06T07:08:09Z'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        readline.createInterface({ input: child.stdout }).once('line', resolve);
        child.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
      });
      const { url } = JSON.parse(line) as { url: string };
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const created = await fetch(`${url}/_emulator/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'proc' }) });
      const user = (await created.json()) as CreatedUser;
      const me = await clientFor(user, url).v2.me();
      assert.equal(me.data.username, 'proc');
      const clock = (await (await fetch(`${url}/_emulator/clock`)).json()) as { now: string };
      assert.ok(Date.parse(clock.now) - Date.parse('2031-05-06T07:08:09Z') < 5 * 60 * SECOND, `started at --clock: ${clock.now}`);
      assert.ok(Date.parse(clock.now) >= Date.parse('2031-05-06T07:08:09Z'));
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('refuses to start with a --clock it cannot read, saying why', async function () {
    this.timeout(20000);
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/emulator/main.ts', '--port', '0', '--clock', 'tomorrow'], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    const code = await new Promise((resolve) => child.once('exit', resolve));
    assert.equal(code, 1);
    assert.match(stderr, /emulator failed to start: the clock start 'tomorrow' is not an ISO-8601 time with a zone, e\.g\. 2026-12-01T09:00:00Z/);
  });

  it('close() ends open connections at once instead of waiting for their answers', async () => {
    const emulator = await startEmulator({ port: 0 });
    const user = emulator.state.createUser({ username: 'closer' });
    const client = clientFor(user, emulator.url);
    await client.v2.me(); // leaves a keep-alive connection open
    // A call the emulator holds for 20 s: close() must not wait for it (or for the idle connection).
    emulator.state.addFaults([{ endpoint: 'GET /2/users/me', kind: 'latency', ms: 20_000 }]);
    const held = client.v2.me().then(() => 'answered', () => 'connection ended');
    while (emulator.state.getCalls().by_endpoint['GET /2/users/me'] !== 2) await new Promise((resolve) => setImmediate(resolve));
    const first = await Promise.race([emulator.close().then(() => 'closed'), held]);
    assert.equal(first, 'closed', 'close() returned while the held call was still open');
    assert.equal(await held, 'connection ended');
  });
});
