import crypto from 'node:crypto';
import express from 'express';
import { parseAuthorizationHeader, verifyOAuth1Request, type OAuthParam } from './oauth1';
import {
  blankProblem,
  clientNotEnrolled,
  duplicateContent,
  invalidRequest,
  notFoundError,
  oauth1Permissions,
  PROBLEM_BASE,
  TOO_LONG_MESSAGE,
  tooManyRequests,
  unauthorized,
  creditsDepleted,
  XApiProblem,
  type ParameterError,
  type XResponse,
} from './problems';
import { MAX_TWEET_WEIGHT, weightedLength } from '../twitter/weighted-length';
import { WEBHOOK_ROUTES } from './webhook-routes';
import { MEDIA_ROUTES } from './media-routes';
import { MediaRefusal, renderMedia } from './media';
import { DM_ROUTES } from './dm-routes';
import { matchesSearch, parseSearchQuery, SearchQueryError } from './search-query';
import { snowflakeTime } from './snowflake';
import { TweetRejection, type EmulatorState, type EndpointKey, type FaultRule, type RateLimitDecision, type TweetRecord, type UserRecord } from './state';

// Field and expansion names X accepts; the emulator fills in the ones listed in the render functions
// and silently leaves out the others, as X leaves out fields a post does not have.
const TWEET_FIELDS = [
  'article', 'attachments', 'author_id', 'card_uri', 'community_id', 'context_annotations', 'conversation_id', 'created_at',
  'display_text_range', 'edit_controls', 'edit_history_tweet_ids', 'entities', 'geo', 'id', 'in_reply_to_user_id', 'lang',
  'media_metadata', 'non_public_metrics', 'note_tweet', 'organic_metrics', 'possibly_sensitive', 'promoted_metrics',
  'public_metrics', 'referenced_tweets', 'reply_settings', 'scopes', 'source', 'text', 'withheld',
];
const USER_FIELDS = [
  'affiliation', 'connection_status', 'created_at', 'description', 'entities', 'id', 'is_identity_verified', 'location',
  'most_recent_tweet_id', 'name', 'parody', 'pinned_tweet_id', 'profile_banner_url', 'profile_image_url', 'protected',
  'public_metrics', 'receives_your_dm', 'subscription', 'subscription_type', 'url', 'username', 'verified',
  'verified_followers_count', 'verified_type', 'withheld',
];
const TWEET_EXPANSIONS = [
  'article.cover_media', 'article.media_entities', 'attachments.media_keys', 'attachments.media_source_tweet',
  'attachments.poll_ids', 'author_id', 'edit_history_tweet_ids', 'entities.mentions.username', 'geo.place_id',
  'in_reply_to_user_id', 'entities.note.mentions.username', 'referenced_tweets.id', 'referenced_tweets.id.author_id',
];
const USER_EXPANSIONS = ['affiliation.user_id', 'most_recent_tweet_id', 'pinned_tweet_id'];
const OTHER_FIELD_PARAMS = ['media.fields', 'poll.fields', 'place.fields'];
const TWEET_LIST_PARAMS = ['tweet.fields', 'expansions', 'user.fields', ...OTHER_FIELD_PARAMS];
const TIMELINE_PARAMS = ['max_results', 'pagination_token', 'since_id', 'until_id', 'start_time', 'end_time', ...TWEET_LIST_PARAMS];

const DAY_MS = 24 * 60 * 60 * 1000;
const SEARCH_WINDOW_MS = 7 * DAY_MS;
const MAX_QUERY_LENGTH = 512;
const MENTIONS_REACH = 800;
const USER_TWEETS_REACH = 3200;
const ID_PATTERN = /^[0-9]{1,19}$/;
const MAX_BODY_BYTES = 1024 * 1024;

type Access = 'read' | 'write' | 'self';

export interface Context {
  state: EmulatorState;
  user: UserRecord;
  /** The app the caller signed with: webhooks and subscriptions belong to it. */
  consumerKey: string;
  pathParams: string[];
  query: URLSearchParams;
  body: RequestBody;
  contentType: string;
  /** The fault rule this call drew, for faults a handler acts out itself (processing_failed). */
  fault?: FaultRule;
}

export interface Route {
  method: string;
  key: EndpointKey;
  pattern: RegExp;
  access: Access;
  handle(ctx: Context): XResponse | Promise<XResponse>;
  /** A larger body than the default 1 MB (media upload segments). */
  maxBodyBytes?: number;
}

interface RequestBody {
  raw: Buffer | null;
  /** Set when a body parser earlier in the host app already consumed the stream. */
  preParsed?: unknown;
}

/** Query-parameter checks that collect every problem and answer once, as X does. */
export class Params {
  readonly errors: ParameterError[] = [];

  constructor(
    private readonly query: URLSearchParams,
    allowed: readonly string[],
  ) {
    const seen = new Set<string>();
    for (const name of query.keys()) {
      if (!allowed.includes(name)) {
        this.errors.push({ parameter: name, value: query.get(name) ?? '', message: `The query parameter [${name}] is not one of [${allowed.join(',')}]` });
      } else if (seen.has(name)) {
        this.errors.push({ parameter: name, value: query.getAll(name).join(','), message: `Duplicate parameters are not allowed: the \`${name}\` query parameter` });
      }
      seen.add(name);
    }
  }

  get(name: string): string | undefined {
    const value = this.query.get(name);
    return value === null ? undefined : value;
  }

  list(name: string, allowed: readonly string[]): Set<string> {
    const value = this.get(name);
    if (value === undefined) return new Set();
    const items = value.split(',');
    if (value === '' || items.some((item) => item === '')) {
      this.errors.push({ parameter: name, value, message: `The \`${name}\` query parameter can not be empty` });
      return new Set();
    }
    for (const item of items) {
      if (!allowed.includes(item)) {
        this.errors.push({ parameter: name, value: item, message: `The \`${name}\` query parameter value [${item}] is not one of [${allowed.join(',')}]` });
      }
    }
    return new Set(items);
  }

  int(name: string, min: number, max: number, fallback: number): number {
    const value = this.get(name);
    if (value === undefined) return fallback;
    const n = /^-?[0-9]+$/.test(value) ? Number(value) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      this.errors.push({ parameter: name, value, message: `The \`${name}\` query parameter value [${value}] is not between ${min} and ${max}` });
      return fallback;
    }
    return n;
  }

  id(name: string): bigint | undefined {
    const value = this.get(name);
    if (value === undefined) return undefined;
    if (!ID_PATTERN.test(value)) {
      this.errors.push({ parameter: name, value, message: `The \`${name}\` query parameter value [${value}] does not match ^[0-9]{1,19}$` });
      return undefined;
    }
    return BigInt(value);
  }

  time(name: string): number | undefined {
    const value = this.get(name);
    if (value === undefined) return undefined;
    const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(value) ? Date.parse(value) : NaN;
    if (Number.isNaN(ms)) {
      this.errors.push({ parameter: name, value, message: `The \`${name}\` query parameter value [${value}] is not a valid RFC 3339 timestamp` });
      return undefined;
    }
    return ms;
  }

  token(name: string): bigint | undefined {
    const value = this.get(name);
    if (value === undefined) return undefined;
    const decoded = decodePageToken(value);
    if (decoded === undefined) this.errors.push({ parameter: name, value, message: `The \`${name}\` query parameter value [${value}] is not valid` });
    return decoded;
  }

  fail(parameter: string, value: string, message: string): void {
    this.errors.push({ parameter, value, message });
  }

  done(): void {
    if (this.errors.length > 0) throw new XApiProblem(invalidRequest(this.errors));
  }
}

/** Page tokens name the oldest id already returned; opaque to clients, like X's. */
function encodePageToken(oldestId: string): string {
  return Buffer.from(`page:${oldestId}`).toString('base64url');
}

function decodePageToken(token: string): bigint | undefined {
  const text = Buffer.from(token, 'base64url').toString();
  const match = /^page:([0-9]{1,19})$/.exec(text);
  return match ? BigInt(match[1]) : undefined;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

// ---- rendering --------------------------------------------------------------------------------

// A long post's `text` as v2 gives it: cut near 280 characters; the whole text is in note_tweet.
const LONG_POST_TEXT_CUT = 280;

function renderTweet(tweet: TweetRecord, fields: Set<string>): Record<string, unknown> {
  const long = weightedLength(tweet.text) > MAX_TWEET_WEIGHT;
  const text = long ? Array.from(tweet.text).slice(0, LONG_POST_TEXT_CUT).join('') : tweet.text;
  const out: Record<string, unknown> = { id: tweet.id, text, edit_history_tweet_ids: [tweet.id] };
  if (long && fields.has('note_tweet')) out.note_tweet = { text: tweet.text };
  if (fields.has('author_id')) out.author_id = tweet.authorId;
  if (fields.has('created_at')) out.created_at = iso(tweet.createdAtMs);
  if (fields.has('conversation_id')) out.conversation_id = tweet.conversationId;
  if (fields.has('in_reply_to_user_id') && tweet.inReplyToUserId !== undefined) out.in_reply_to_user_id = tweet.inReplyToUserId;
  if (fields.has('referenced_tweets') && tweet.inReplyToTweetId !== undefined) {
    out.referenced_tweets = [{ type: 'replied_to', id: tweet.inReplyToTweetId }];
  }
  if (fields.has('attachments') && tweet.media) out.attachments = { media_keys: tweet.media.map((item) => item.mediaKey) };
  if (fields.has('reply_settings')) out.reply_settings = 'everyone';
  if (fields.has('possibly_sensitive')) out.possibly_sensitive = false;
  return out;
}

function renderUser(user: UserRecord, fields: Set<string>): Record<string, unknown> {
  const out: Record<string, unknown> = { id: user.id, name: user.name, username: user.username };
  if (fields.has('created_at')) out.created_at = iso(user.createdAtMs);
  if (fields.has('description')) out.description = user.description;
  if (fields.has('protected')) out.protected = false;
  if (fields.has('verified')) out.verified = false;
  return out;
}

interface Rendering {
  tweetFields: Set<string>;
  userFields: Set<string>;
  expansions: Set<string>;
  mediaFields: Set<string>;
}

const MEDIA_FIELDS = [
  'alt_text', 'duration_ms', 'height', 'media_key', 'non_public_metrics', 'organic_metrics', 'preview_image_url', 'promoted_metrics',
  'public_metrics', 'type', 'url', 'variants', 'width',
];

function readRendering(p: Params, expansions: readonly string[] = TWEET_EXPANSIONS): Rendering {
  return {
    tweetFields: p.list('tweet.fields', TWEET_FIELDS),
    userFields: p.list('user.fields', USER_FIELDS),
    expansions: p.list('expansions', expansions),
    mediaFields: p.list('media.fields', MEDIA_FIELDS),
  };
}

/** `data` plus the `includes` the requested expansions call for. */
function tweetPayload(state: EmulatorState, tweets: TweetRecord[], r: Rendering): Record<string, unknown> {
  const payload: Record<string, unknown> = {};
  if (tweets.length > 0) payload.data = tweets.map((t) => renderTweet(t, r.tweetFields));
  const users = new Map<string, UserRecord>();
  const referenced = new Map<string, TweetRecord>();
  const addUser = (id: string | undefined) => {
    const user = id === undefined ? undefined : state.getUser(id);
    if (user && !users.has(user.id)) users.set(user.id, user);
  };
  for (const t of tweets) {
    if (r.expansions.has('author_id')) addUser(t.authorId);
    if (r.expansions.has('in_reply_to_user_id')) addUser(t.inReplyToUserId);
    if (r.expansions.has('entities.mentions.username')) for (const name of t.mentions) addUser(state.findUser(name)?.id);
    if (t.inReplyToTweetId !== undefined && (r.expansions.has('referenced_tweets.id') || r.expansions.has('referenced_tweets.id.author_id'))) {
      const parent = state.getTweetRecord(t.inReplyToTweetId);
      if (parent) {
        if (r.expansions.has('referenced_tweets.id')) referenced.set(parent.id, parent);
        if (r.expansions.has('referenced_tweets.id.author_id')) addUser(parent.authorId);
      }
    }
  }
  const includes: Record<string, unknown> = {};
  if (users.size > 0) includes.users = [...users.values()].map((u) => renderUser(u, r.userFields));
  if (referenced.size > 0) includes.tweets = [...referenced.values()].map((t) => renderTweet(t, r.tweetFields));
  const media = r.expansions.has('attachments.media_keys') ? tweets.flatMap((t) => t.media ?? []) : [];
  if (media.length > 0) includes.media = media.map((item) => renderMedia(item, r.mediaFields));
  if (Object.keys(includes).length > 0) payload.includes = includes;
  return payload;
}

// ---- timelines --------------------------------------------------------------------------------

interface TimelineOptions {
  min: number;
  max: number;
  fallback: number;
  /** The parameter a client pages with: pagination_token for timelines, next_token for search. */
  tokenParams: string[];
  /** Extra checks and filters specific to one endpoint. */
  extra?: (p: Params, parsed: { startTime?: number; sinceId?: bigint }) => ((t: TweetRecord) => boolean) | void;
}

/** Filters (ids, times, page token), one page newest first, and X's `meta`. `newestFirst` must be sorted. */
function timelinePage(ctx: Context, allowed: readonly string[], newestFirst: TweetRecord[], options: TimelineOptions): XResponse {
  const p = new Params(ctx.query, allowed);
  const maxResults = p.int('max_results', options.min, options.max, options.fallback);
  const sinceId = p.id('since_id');
  const untilId = p.id('until_id');
  const startTime = p.time('start_time');
  const endTime = p.time('end_time');
  let pageBefore: bigint | undefined;
  for (const name of options.tokenParams) pageBefore = p.token(name) ?? pageBefore;
  const rendering = readRendering(p);
  if (startTime !== undefined && endTime !== undefined && endTime <= startTime) {
    p.fail('end_time', ctx.query.get('end_time') ?? '', "Invalid 'end_time'. 'end_time' must be after 'start_time'");
  }
  const extraFilter = options.extra?.(p, { startTime, sinceId });
  p.done();

  const selected: TweetRecord[] = [];
  let more = false;
  for (const t of newestFirst) {
    const id = BigInt(t.id);
    if (sinceId !== undefined && id <= sinceId) continue;
    if (untilId !== undefined && id >= untilId) continue;
    if (pageBefore !== undefined && id >= pageBefore) continue;
    if (startTime !== undefined && t.createdAtMs < startTime) continue;
    if (endTime !== undefined && t.createdAtMs >= endTime) continue;
    if (extraFilter && !extraFilter(t)) continue;
    if (selected.length === maxResults) {
      more = true;
      break;
    }
    selected.push(t);
  }
  const body = tweetPayload(ctx.state, selected, rendering);
  const meta: Record<string, unknown> = {};
  if (selected.length > 0) {
    meta.newest_id = selected[0].id;
    meta.oldest_id = selected[selected.length - 1].id;
  }
  meta.result_count = selected.length;
  if (more) meta.next_token = encodePageToken(selected[selected.length - 1].id);
  body.meta = meta;
  return { status: 200, body };
}

function newestFirst(state: EmulatorState, tweets: readonly TweetRecord[], keep: (t: TweetRecord) => boolean, reach = Infinity): TweetRecord[] {
  const out: TweetRecord[] = [];
  for (let i = tweets.length - 1; i >= 0 && out.length < reach; i -= 1) if (state.isShown(tweets[i]) && keep(tweets[i])) out.push(tweets[i]);
  return out;
}

export function requirePathId(value: string, name = 'id'): string {
  if (!ID_PATTERN.test(value)) {
    throw new XApiProblem(invalidRequest([{ parameter: name, value, message: `The \`${name}\` query parameter value [${value}] does not match ^[0-9]{1,19}$` }]));
  }
  return value;
}

/** A timeline for a user id that does not exist: X's partial error, with meta so paginators cope. */
function unknownUserTimeline(ctx: Context, allowed: readonly string[], id: string): XResponse {
  new Params(ctx.query, allowed).done();
  return { status: 200, body: { errors: [notFoundError('user', 'id', id)], meta: { result_count: 0 } } };
}

// ---- handlers ---------------------------------------------------------------------------------

export function parseJsonBody(ctx: Context): unknown {
  if (ctx.body.preParsed !== undefined) return ctx.body.preParsed;
  if (!ctx.body.raw || ctx.body.raw.length === 0) {
    throw new XApiProblem(invalidRequest([{ message: 'Request body is required and must be a JSON object.' }]));
  }
  if (!/^application\/json\b/i.test(ctx.contentType)) {
    throw new XApiProblem(invalidRequest([{ message: 'Requests with bodies must have content-type of application/json.' }]));
  }
  try {
    return JSON.parse(ctx.body.raw.toString('utf8'));
  } catch {
    throw new XApiProblem(invalidRequest([{ message: 'Request body is not valid JSON.' }]));
  }
}

const CREATE_TWEET_BODY_KEYS = [
  'text', 'reply', 'quote_tweet_id', 'reply_settings', 'media', 'poll', 'for_super_followers_only', 'direct_message_deep_link',
  'geo', 'nullcast', 'community_id', 'share_with_followers', 'card_uri', 'made_with_ai', 'paid_partnership', 'edit_options',
];

function createTweet(ctx: Context): XResponse {
  new Params(ctx.query, []).done();
  const body = parseJsonBody(ctx);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new XApiProblem(invalidRequest([{ message: '$: expected type: JSONObject, found: ' + (Array.isArray(body) ? 'JSONArray' : typeof body) }]));
  }
  const input = body as Record<string, unknown>;
  const errors: ParameterError[] = [];
  for (const key of Object.keys(input)) {
    if (!CREATE_TWEET_BODY_KEYS.includes(key)) errors.push({ message: `$.${key}: is not defined in the schema and the schema does not allow additional properties` });
  }
  if (input.text !== undefined && typeof input.text !== 'string') errors.push({ message: `$.text: expected type: String, found: ${typeof input.text}` });
  let inReplyTo: string | undefined;
  if (input.reply !== undefined) {
    const reply = input.reply as Record<string, unknown> | null;
    if (!reply || typeof reply !== 'object' || typeof reply.in_reply_to_tweet_id !== 'string' || !ID_PATTERN.test(reply.in_reply_to_tweet_id)) {
      errors.push({ message: '$.reply.in_reply_to_tweet_id: must be a string of 1 to 19 digits' });
    } else {
      inReplyTo = reply.in_reply_to_tweet_id;
    }
  }
  if (errors.length > 0) throw new XApiProblem(invalidRequest(errors));
  const text = typeof input.text === 'string' ? input.text : '';
  refuseReplyNotEngaged(ctx, inReplyTo);
  const media = input.media === undefined ? undefined : attachMedia(ctx, input.media);
  try {
    const tweet = ctx.state.createTweet(ctx.user.id, text, { inReplyToTweetId: inReplyTo, longPost: ctx.user.longPosts === true, media });
    return { status: 201, body: { data: { id: tweet.id, text: tweet.text, edit_history_tweet_ids: [tweet.id] } } };
  } catch (error) {
    if (!(error instanceof TweetRejection)) throw error;
    switch (error.reason) {
      case 'duplicate':
        throw new XApiProblem(duplicateContent());
      case 'too_long':
        throw new XApiProblem(invalidRequest([{ message: TOO_LONG_MESSAGE }]));
      case 'empty':
        throw new XApiProblem(invalidRequest([{ message: 'Post text must not be empty (a post needs text or media).' }]));
      case 'reply_not_found':
        throw new XApiProblem(invalidRequest([{ message: 'The Post being replied to does not exist or is not visible to you.' }]));
    }
  }
}

/** X's words for a self-serve reply to a post whose author did not mention (or quote) the account. */
export const REPLY_NOT_ENGAGED_DETAIL = 'Reply to this conversation is not allowed because you have not been mentioned or otherwise engaged by the author of the post you are replying to.';

/**
 * X's self-serve rule for API replies: only to a post whose author mentioned the replying account
 * (a reply to the account's own post counts; the emulator has no quotes). A missing parent is
 * left to the creation's own 400.
 */
function refuseReplyNotEngaged(ctx: Context, inReplyTo: string | undefined): void {
  if (inReplyTo === undefined) return;
  const parent = ctx.state.getTweetRecord(inReplyTo);
  if (!parent || parent.authorId === ctx.user.id || parent.mentions.has(ctx.user.username.toLowerCase())) return;
  throw new XApiProblem(blankProblem(403, REPLY_NOT_ENGAGED_DETAIL, 'Forbidden'));
}

/** `media.media_ids`, checked as X checks them (see EmulatorMedia.attach). */
function attachMedia(ctx: Context, media: unknown) {
  try {
    return ctx.state.media.attach(ctx.user.id, (media as { media_ids?: unknown } | null)?.media_ids);
  } catch (error) {
    if (!(error instanceof MediaRefusal)) throw error;
    throw new XApiProblem(invalidRequest([{ message: error.message }]));
  }
}

function deleteTweet(ctx: Context): XResponse {
  new Params(ctx.query, []).done();
  const id = requirePathId(ctx.pathParams[0]);
  const tweet = ctx.state.getTweetRecord(id);
  if (!tweet) {
    const problem = notFoundError('tweet', 'id', id);
    return { status: 404, body: { ...problem, status: 404 } };
  }
  if (tweet.authorId !== ctx.user.id) {
    throw new XApiProblem(blankProblem(403, 'You are not allowed to delete a Post you did not author.', 'Forbidden'));
  }
  ctx.state.deleteTweet(id);
  return { status: 200, body: { data: { deleted: true } } };
}

function usersMe(ctx: Context): XResponse {
  const p = new Params(ctx.query, ['user.fields', 'expansions', 'tweet.fields']);
  const userFields = p.list('user.fields', USER_FIELDS);
  p.list('expansions', USER_EXPANSIONS);
  p.list('tweet.fields', TWEET_FIELDS);
  p.done();
  return { status: 200, body: { data: renderUser(ctx.user, userFields) } };
}

function mentions(ctx: Context): XResponse {
  const id = requirePathId(ctx.pathParams[0]);
  const target = ctx.state.getUser(id);
  if (!target) return unknownUserTimeline(ctx, TIMELINE_PARAMS, id);
  // X only ever serves the 800 newest mentions, whatever the filters.
  const reachable = newestFirst(ctx.state, ctx.state.mentionsOf(target.username), () => true, MENTIONS_REACH);
  return timelinePage(ctx, TIMELINE_PARAMS, reachable, { min: 5, max: 100, fallback: 10, tokenParams: ['pagination_token'] });
}

function userTweets(ctx: Context): XResponse {
  const allowed = [...TIMELINE_PARAMS, 'exclude'];
  const id = requirePathId(ctx.pathParams[0]);
  const target = ctx.state.getUser(id);
  if (!target) return unknownUserTimeline(ctx, allowed, id);
  const reachable = newestFirst(ctx.state, ctx.state.tweetsBy(id), () => true, USER_TWEETS_REACH);
  return timelinePage(ctx, allowed, reachable, {
    min: 5,
    max: 100,
    fallback: 10,
    tokenParams: ['pagination_token'],
    extra: (p) => {
      const exclude = p.list('exclude', ['replies', 'retweets']);
      if (exclude.has('replies')) return (t) => t.inReplyToTweetId === undefined;
    },
  });
}

function searchRecent(ctx: Context): XResponse {
  const allowed = ['query', 'sort_order', 'next_token', ...TIMELINE_PARAMS];
  const now = ctx.state.now();
  const windowStart = now - SEARCH_WINDOW_MS;
  const state = ctx.state;
  const recent = newestFirst(state, state.allTweets(), (t) => t.createdAtMs >= windowStart);
  return timelinePage(ctx, allowed, recent, {
    min: 10,
    max: 100,
    fallback: 10,
    tokenParams: ['pagination_token', 'next_token'],
    extra: (p, { startTime, sinceId }) => {
      p.list('sort_order', ['recency', 'relevancy']);
      // Recent search refuses to look behind its 7-day window rather than quietly returning less.
      if (startTime !== undefined && startTime < windowStart) {
        p.fail('start_time', p.get('start_time') ?? '', `Invalid 'start_time':'${p.get('start_time')}'. 'start_time' must be on or after ${iso(windowStart)}`);
      }
      if (sinceId !== undefined && snowflakeTime(sinceId) < windowStart) {
        p.fail('since_id', String(sinceId), `Invalid 'since_id':'${sinceId}'. 'since_id' must be a post id created after ${iso(windowStart)}`);
      }
      const query = p.get('query');
      if (query === undefined) {
        p.fail('query', '', 'The `query` query parameter can not be empty');
        return;
      }
      if (query.length > MAX_QUERY_LENGTH) {
        p.fail('query', query, `The \`query\` query parameter value is ${query.length} characters long; the maximum is ${MAX_QUERY_LENGTH}`);
        return;
      }
      let tree;
      try {
        tree = parseSearchQuery(query);
      } catch (error) {
        if (!(error instanceof SearchQueryError)) throw error;
        p.fail('query', query, `There were errors processing your request: ${error.message}`);
        return;
      }
      return (t) => {
        const author = state.getUser(t.authorId);
        const repliedTo = t.inReplyToUserId === undefined ? undefined : state.getUser(t.inReplyToUserId);
        return matchesSearch(tree, {
          id: t.id,
          text: t.text,
          conversationId: t.conversationId,
          authorUsername: author?.username ?? '',
          inReplyToTweetId: t.inReplyToTweetId,
          inReplyToUsername: repliedTo?.username,
          mentions: t.mentions,
        });
      };
    },
  });
}

function lookupTweets(ctx: Context): XResponse {
  const p = new Params(ctx.query, ['ids', ...TWEET_LIST_PARAMS]);
  const rendering = readRendering(p);
  const raw = p.get('ids');
  const ids = raw === undefined || raw === '' ? [] : raw.split(',');
  if (ids.length === 0) p.fail('ids', raw ?? '', 'The `ids` query parameter can not be empty');
  if (ids.length > 100) p.fail('ids', raw ?? '', `The number of values in the \`ids\` query parameter list [${ids.length}] is not between 1 and 100`);
  for (const id of ids) {
    if (!ID_PATTERN.test(id)) p.fail('ids', id, `The \`ids\` query parameter value [${id}] does not match ^[0-9]{1,19}$`);
  }
  p.done();
  const found: TweetRecord[] = [];
  const errors: Record<string, string>[] = [];
  for (const id of new Set(ids)) {
    const tweet = ctx.state.getTweetRecord(id);
    if (tweet) found.push(tweet);
    else errors.push(notFoundError('tweet', 'ids', id));
  }
  const body = tweetPayload(ctx.state, found, rendering);
  if (errors.length > 0) body.errors = errors;
  return { status: 200, body };
}

function lookupTweet(ctx: Context): XResponse {
  const p = new Params(ctx.query, TWEET_LIST_PARAMS);
  const rendering = readRendering(p);
  p.done();
  const id = requirePathId(ctx.pathParams[0]);
  const tweet = ctx.state.getTweetRecord(id);
  if (!tweet) return { status: 200, body: { errors: [notFoundError('tweet', 'id', id)] } };
  const body = tweetPayload(ctx.state, [tweet], rendering);
  return { status: 200, body: { ...body, data: (body.data as unknown[])[0] } };
}

const ROUTES: Route[] = [
  { method: 'POST', key: 'POST /2/tweets', pattern: /^\/2\/tweets\/?$/, access: 'write', handle: createTweet },
  { method: 'GET', key: 'GET /2/tweets', pattern: /^\/2\/tweets\/?$/, access: 'read', handle: lookupTweets },
  { method: 'GET', key: 'GET /2/tweets/search/recent', pattern: /^\/2\/tweets\/search\/recent\/?$/, access: 'read', handle: searchRecent },
  { method: 'GET', key: 'GET /2/tweets/:id', pattern: /^\/2\/tweets\/([^/]+)\/?$/, access: 'read', handle: lookupTweet },
  { method: 'DELETE', key: 'DELETE /2/tweets/:id', pattern: /^\/2\/tweets\/([^/]+)\/?$/, access: 'write', handle: deleteTweet },
  // Free-tier apps could read /2/users/me while every other read answered client-not-enrolled.
  { method: 'GET', key: 'GET /2/users/me', pattern: /^\/2\/users\/me\/?$/, access: 'self', handle: usersMe },
  { method: 'GET', key: 'GET /2/users/:id/mentions', pattern: /^\/2\/users\/([^/]+)\/mentions\/?$/, access: 'read', handle: mentions },
  { method: 'GET', key: 'GET /2/users/:id/tweets', pattern: /^\/2\/users\/([^/]+)\/tweets\/?$/, access: 'read', handle: userTweets },
  ...WEBHOOK_ROUTES,
  ...MEDIA_ROUTES,
  ...DM_ROUTES,
];

function findRoute(method: string, path: string): { route: Route; params: string[] } | undefined {
  for (const route of ROUTES) {
    if (route.method !== method) continue;
    const match = route.pattern.exec(path);
    if (match) return { route, params: match.slice(1).map((s) => decodeURIComponent(s)) };
  }
  return undefined;
}

// ---- transport --------------------------------------------------------------------------------

async function readBody(req: express.Request, maxBytes = MAX_BODY_BYTES): Promise<RequestBody> {
  const parsedBefore = (req as unknown as { _body?: boolean })._body === true;
  if (parsedBefore || req.readableEnded) return { raw: null, preParsed: req.body };
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new XApiProblem(invalidRequest([{ message: 'Request body is too large.' }]));
    chunks.push(chunk as Buffer);
  }
  return { raw: Buffer.concat(chunks) };
}

function formBodyParams(req: express.Request, body: RequestBody): OAuthParam[] {
  if (!/^application\/x-www-form-urlencoded\b/i.test(req.get('content-type') ?? '') || !body.raw) return [];
  return [...new URLSearchParams(body.raw.toString('utf8'))];
}

function rateLimitHeaders(decision: RateLimitDecision): Record<string, string> {
  return {
    'x-rate-limit-limit': String(decision.limit),
    'x-rate-limit-remaining': String(decision.remaining),
    'x-rate-limit-reset': String(decision.reset),
  };
}

/** A stable numeric app id for client-forbidden problems, derived from the consumer key. */
function clientIdFor(consumerKey: string): string {
  return String(parseInt(crypto.createHash('sha1').update(consumerKey).digest('hex').slice(0, 8), 16));
}

function serialize(response: XResponse): { payload: Buffer; contentType: string } {
  const payload = Buffer.from(response.body === undefined ? '' : JSON.stringify(response.body));
  const contentType = response.status >= 400 ? 'application/problem+json' : 'application/json; charset=utf-8';
  return { payload, contentType };
}

function send(res: express.Response, response: XResponse): void {
  const { payload, contentType } = serialize(response);
  res.status(response.status);
  for (const [name, value] of Object.entries(response.headers ?? {})) res.setHeader(name, value);
  res.setHeader('content-type', contentType);
  res.setHeader('content-length', String(payload.length));
  res.end(payload);
}

function sendMalformed(res: express.Response, response: XResponse): void {
  const { payload } = serialize(response);
  // A trailing comma before the closing brace: the right length, the right content type, not JSON.
  const broken = Buffer.from(payload.length > 0 ? payload.toString('utf8').slice(0, -1) + ',}' : '{"data":');
  res.status(response.status);
  for (const [name, value] of Object.entries(response.headers ?? {})) res.setHeader(name, value);
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', String(broken.length));
  res.end(broken);
}

function sendTruncated(req: express.Request, res: express.Response, response: XResponse): void {
  const { payload, contentType } = serialize(response);
  const full = payload.length > 1 ? payload : Buffer.from('{"data":{}}');
  res.writeHead(response.status, { ...(response.headers ?? {}), 'content-type': contentType, 'content-length': String(full.length) });
  // Once the first half has left, close the connection: the client is owed bytes it never gets.
  res.write(full.subarray(0, Math.floor(full.length / 2)), () => req.socket.destroy());
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Authentication, rate limit, access level, then the handler: the answer a healthy X would give. */
async function answer(
  state: EmulatorState,
  req: express.Request,
  found: { route: Route; params: string[] },
  body: RequestBody,
  forcedRateLimit: { resetInSeconds?: number } | undefined,
  fault?: FaultRule,
): Promise<XResponse> {
  const { route } = found;
  // The client signed the URL it called, mount prefix included: rebuild exactly that.
  const url = `${req.protocol}://${req.get('host') ?? 'localhost'}${req.originalUrl}`;
  const verdict = verifyOAuth1Request({
    method: req.method,
    url,
    authorization: req.get('authorization'),
    bodyParams: formBodyParams(req, body),
    consumerSecret: (key) => state.consumerSecret(key),
    tokenSecret: (key, token) => state.tokenSecret(key, token),
  });
  if (!verdict.ok) return unauthorized();
  const user = state.userForToken(verdict.token) as UserRecord;
  if (user.creditsDepleted) return creditsDepleted();

  if (forcedRateLimit) {
    const decision = state.blockRateLimit(user.id, route.key, forcedRateLimit.resetInSeconds ?? 60);
    return { ...tooManyRequests(), headers: rateLimitHeaders(decision) };
  }
  const decision = state.consumeRateLimit(user.id, route.key);
  const headers = rateLimitHeaders(decision);
  if (!decision.allowed) return { ...tooManyRequests(), headers };

  if (route.access === 'write' && user.access === 'read-only') return { ...oauth1Permissions(), headers };
  if (route.access === 'read' && user.access === 'no-read') return { ...clientNotEnrolled(clientIdFor(verdict.consumerKey)), headers };

  const ctx: Context = {
    state,
    user,
    consumerKey: verdict.consumerKey,
    pathParams: found.params,
    query: new URL(url).searchParams,
    body,
    contentType: req.get('content-type') ?? '',
    fault,
  };
  try {
    return { ...(await route.handle(ctx)), headers };
  } catch (error) {
    if (error instanceof XApiProblem) return { ...error.response, headers };
    const detail = error instanceof Error ? error.message : String(error);
    return { status: 500, body: { title: 'Internal Server Error', detail, type: `${PROBLEM_BASE}internal-error`, status: 500 }, headers };
  }
}

async function handle(state: EmulatorState, req: express.Request, res: express.Response): Promise<void> {
  const found = findRoute(req.method, req.path);
  const key = found?.route.key ?? `${req.method} ${req.path}`;
  state.recordCall(key);

  // Faults are chosen before anything else; the caller is identified (not yet verified) for per-user rules.
  const token = parseAuthorizationHeader(req.get('authorization'))?.get('oauth_token');
  const caller = token === undefined ? undefined : state.userForToken(token);
  const faults = state.takeFaults(key, caller?.username);
  const delayMs = faults.latencyMs + faults.heldAfterWorkMs;
  // Said in a header of the emulator's own, so a test can tell a held answer from a slow machine.
  if (delayMs > 0) res.setHeader('x-emulator-delay-ms', String(delayMs));
  if (faults.latencyMs > 0) await sleep(faults.latencyMs);
  const fate = faults.terminal;
  if (fate?.kind === 'drop') {
    req.socket.destroy();
    return;
  }

  let body: RequestBody;
  try {
    body = await readBody(req, found?.route.maxBodyBytes);
  } catch (error) {
    if (error instanceof XApiProblem) return send(res, error.response);
    // The caller went away mid-request (a killed process): there is nobody to answer.
    if (req.destroyed && (error as NodeJS.ErrnoException).code === 'ECONNRESET') return;
    throw error;
  }
  // X's only 402 is "credits depleted", in its own shape.
  if (fate?.kind === 'status') return send(res, fate.status === 402 ? creditsDepleted() : blankProblem(fate.status ?? 503));
  if (!found) return send(res, blankProblem(404, 'The requested resource does not exist in this emulator.', 'Not Found'));

  const response = await answer(state, req, found, body, fate?.kind === 'rate_limit' ? fate : undefined, fate);
  // A kept emulator (the server's sandbox) answers only once the call's change is stored.
  const storing = state.changesStored();
  if (storing) {
    try {
      await storing;
    } catch {
      return send(res, blankProblem(503, 'The sandbox could not store the change; try again.'));
    }
  }
  if (faults.heldAfterWorkMs > 0) await sleep(faults.heldAfterWorkMs);
  switch (fate?.kind) {
    case 'lost_response':
      // X did the work; the answer never arrives.
      req.socket.destroy();
      return;
    case 'malformed_json':
      return sendMalformed(res, response);
    case 'truncated':
      return sendTruncated(req, res, response);
    case 'repeat_next_token':
      return send(res, repeatingPageToken(req, response));
    default:
      return send(res, response);
  }
}

// A token for "older than every id": its page is the first page again.
const FIRST_PAGE_AGAIN_TOKEN = encodePageToken('9223372036854775807');

/**
 * Acts out a server that keeps paging (X's API Playground repeated a next_token for 190 calls): a
 * page answers with the token it was asked for, or, for a first page, a token that leads to it again.
 */
function repeatingPageToken(req: express.Request, response: XResponse): XResponse {
  const body = response.body as { meta?: Record<string, unknown> } | undefined;
  if (response.status !== 200 || !body?.meta) return response;
  const asked = [req.query.pagination_token, req.query.next_token].find((value): value is string => typeof value === 'string');
  const token = asked ?? (body.meta.next_token as string | undefined) ?? FIRST_PAGE_AGAIN_TOKEN;
  return { ...response, body: { ...body, meta: { ...body.meta, next_token: token } } };
}

/** Serves the /2/... paths relative to wherever the router is mounted; everything else falls through. */
export function createXApiRouter(state: EmulatorState): express.Router {
  const router = express.Router();
  router.use((req, res, next) => {
    if (req.path !== '/2' && !req.path.startsWith('/2/')) return next();
    handle(state, req, res).catch(next);
  });
  return router;
}
