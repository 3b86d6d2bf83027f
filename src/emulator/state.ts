import crypto from 'node:crypto';
import { weightedLength, MAX_TWEET_WEIGHT } from '../twitter/weighted-length';
import { EmulatorClock, parseInstant } from './clock';
import { SnowflakeGenerator } from './snowflake';
import { EmulatorMedia, MediaRefusal, renderMedia, type AttachedMedia } from './media';
import { WebhookHub } from './webhooks';
import { DirectMessages } from './dm-state';

export type AccessLevel = 'read-write' | 'read-only' | 'no-read';
export const ACCESS_LEVELS: readonly AccessLevel[] = ['read-write', 'read-only', 'no-read'];

/** Endpoint keys: the method and the path template, as used by rate limits, faults and call counters. */
export const ENDPOINT_KEYS = [
  'POST /2/tweets',
  'DELETE /2/tweets/:id',
  'GET /2/tweets',
  'GET /2/tweets/:id',
  'GET /2/tweets/search/recent',
  'GET /2/users/me',
  'GET /2/users/:id/mentions',
  'GET /2/users/:id/tweets',
  'GET /2/webhooks',
  'POST /2/webhooks',
  'PUT /2/webhooks/:id',
  'DELETE /2/webhooks/:id',
  'POST /2/webhooks/replay',
  'GET /2/activity/subscriptions',
  'POST /2/activity/subscriptions',
  'DELETE /2/activity/subscriptions/:id',
  'POST /2/media/upload/initialize',
  'POST /2/media/upload/:id/append',
  'POST /2/media/upload/:id/finalize',
  'GET /2/media/upload',
  'GET /2/dm_events',
  'POST /2/dm_conversations/with/:id/messages',
] as const;
export type EndpointKey = (typeof ENDPOINT_KEYS)[number];

/** Per-user limits per 15-minute window, from X's published table. */
export const DEFAULT_RATE_LIMITS: Readonly<Record<EndpointKey, number>> = {
  'POST /2/tweets': 100,
  'DELETE /2/tweets/:id': 50,
  'GET /2/tweets': 900,
  'GET /2/tweets/:id': 900,
  'GET /2/tweets/search/recent': 300,
  'GET /2/users/me': 75,
  'GET /2/users/:id/mentions': 300,
  'GET /2/users/:id/tweets': 900,
  // Webhook and subscription management: X's per-app figures are small; these are per user here.
  'GET /2/webhooks': 15,
  'POST /2/webhooks': 15,
  'PUT /2/webhooks/:id': 15,
  'DELETE /2/webhooks/:id': 15,
  'POST /2/webhooks/replay': 15,
  'GET /2/activity/subscriptions': 50,
  'POST /2/activity/subscriptions': 50,
  'DELETE /2/activity/subscriptions/:id': 50,
  // X's figure for the media upload endpoints (initialize, append, finalize); STATUS alike here.
  'POST /2/media/upload/initialize': 1875,
  'POST /2/media/upload/:id/append': 1875,
  'POST /2/media/upload/:id/finalize': 1875,
  'GET /2/media/upload': 1875,
  'GET /2/dm_events': 15,
  'POST /2/dm_conversations/with/:id/messages': 15,
};
export const DEFAULT_WINDOW_SECONDS = 15 * 60;

const DAY_MS = 24 * 60 * 60 * 1000;
const USERNAME = /^[A-Za-z0-9_]{1,15}$/;
const MENTION = /(?:^|[^A-Za-z0-9_])[@＠]([A-Za-z0-9_]{1,15})(?![A-Za-z0-9_])/g;

export interface EmulatorOptions {
  /**
   * The time source in ms since the Unix epoch (default the machine's clock); the emulator's clock
   * runs from it, moved by `startAt` and the clock controls. Drives ids, created_at, windows and the
   * 24 h / 7 day rules.
   */
  now?: () => number;
  /** Where the emulator's clock starts (ISO-8601 with a zone, or ms since the epoch); it runs on from there. */
  startAt?: string | number;
  /** Source of randomness for fault probabilities (default Math.random). */
  random?: () => number;
}

/** A bad control request: carries the HTTP status the control endpoint answers with. */
export class EmulatorInputError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'EmulatorInputError';
  }
}

export type TweetRejectionReason = 'empty' | 'too_long' | 'duplicate' | 'reply_not_found';

/** X refused to create the tweet; the X routes and the control routes each word it their own way. */
export class TweetRejection extends Error {
  constructor(
    readonly reason: TweetRejectionReason,
    message: string,
  ) {
    super(message);
    this.name = 'TweetRejection';
  }
}

export interface Credentials {
  api_key: string;
  api_key_secret: string;
  access_token: string;
  access_token_secret: string;
}

export interface UserRecord {
  id: string;
  username: string;
  name: string;
  description: string;
  createdAtMs: number;
  credentials?: Credentials;
  revoked: boolean;
  access: AccessLevel;
  /** May post long posts (X Premium): up to 25,000 characters through POST /2/tweets. */
  longPosts?: boolean;
  /** Pay-per-use credits used up: every API call of the user is answered 402 until they are added. */
  creditsDepleted?: boolean;
}

export interface TweetRecord {
  id: string;
  text: string;
  authorId: string;
  createdAtMs: number;
  conversationId: string;
  inReplyToTweetId?: string;
  inReplyToUserId?: string;
  /** Lower-cased usernames mentioned in the text. */
  mentions: Set<string>;
  /** Not yet visible to API reads: X can show a tweet later than its id suggests. */
  hidden?: boolean;
  /** Emulator time (ms) from which timelines and search show it (the timeline-delay behaviour). */
  shownAtMs?: number;
  /** Photos, videos and GIFs attached (media.ts). */
  media?: AttachedMedia[];
}

/** How the emulator acts out X's soft guarantees (control API: POST /_emulator/behaviour). */
export interface EmulatorBehaviour {
  /** New posts appear in timelines, mentions and search only this long (emulator clock) after they are made. */
  timeline_delay_ms: number;
  /** X's refusal of a text identical to a recent post of the same author; X does not promise it. */
  refuse_duplicates: boolean;
}

const DEFAULT_BEHAVIOUR: EmulatorBehaviour = { timeline_delay_ms: 0, refuse_duplicates: true };

export interface CreateUserInput {
  username: string;
  name?: string;
  consumer_key?: string;
  consumer_secret?: string;
  access_token?: string;
  access_token_secret?: string;
}

export interface CreatedUser {
  id: string;
  username: string;
  name: string;
  credentials: Credentials;
}

export interface UserSummary {
  id: string;
  username: string;
  name: string;
  access: AccessLevel;
  revoked: boolean;
  has_credentials: boolean;
}

export interface PostAsInput {
  as: string;
  text: string;
  in_reply_to_tweet_id?: string;
  /** Prefix the reply with @parent (and @root) like X clients do; default true. */
  mention?: boolean;
  /** ISO-8601; fixes created_at while the id stays newer than every existing id. */
  created_at?: string;
  /** Keep the tweet out of API reads until revealTweet(), to act out X's late visibility. */
  hidden?: boolean;
  /** Post as a Premium user may: up to 25,000 characters instead of 280 weighted ones. */
  long_post?: boolean;
  /** Media attached without an upload, e.g. [{"type":"photo"}]: a person's reply with a photo. */
  media?: Array<{ type: string }>;
}

/** The control API's view of a tweet: every field, plus the author's username for display. */
export interface ControlTweet {
  id: string;
  text: string;
  author_id: string;
  author_username: string;
  created_at: string;
  conversation_id: string;
  in_reply_to_user_id?: string;
  in_reply_to_tweet_id?: string;
  referenced_tweets?: Array<{ type: 'replied_to'; id: string }>;
  edit_history_tweet_ids: string[];
  /** As `includes.media` shows them: media_key, type, url or preview_image_url. */
  media?: Array<Record<string, unknown>>;
}

export interface TimelineEntry extends ControlTweet {
  /** Every tweet below this one in its conversation, oldest first. */
  replies: ControlTweet[];
}

export interface TimelineView {
  user: { id: string; username: string; name: string };
  tweets: TimelineEntry[];
}

// processing_failed: on POST /2/media/upload/:id/finalize, the video's processing ends in "failed".
export const FAULT_KINDS = ['latency', 'status', 'drop', 'lost_response', 'rate_limit', 'malformed_json', 'truncated', 'repeat_next_token', 'processing_failed'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultRule {
  /** An endpoint key such as "POST /2/tweets", or "*" for every X API call. */
  endpoint: string;
  kind: FaultKind;
  /** How many matching calls it hits (default 1, or unlimited when only a probability is given). */
  count?: number;
  /** Chance (0..1) that a matching call is hit. */
  probability?: number;
  /** Only calls made with this user's token. */
  username?: string;
  /** Lets this many matching calls through before the rule hits (e.g. a 402 on a read's second page). */
  skip?: number;
  /** latency: delay in ms. */
  ms?: number;
  /**
   * latency: hold the answer after X has done the work (a post created, its answer slow to come
   * back) instead of before it; the window a crash between a post and its commit needs.
   */
  afterWork?: boolean;
  /** status: the HTTP status to answer with. */
  status?: number;
  /** rate_limit: seconds until the forced window resets (default 60). */
  resetInSeconds?: number;
}

interface ActiveFault {
  rule: FaultRule;
  remaining: number;
  skipped?: number;
}

export interface FaultSelection {
  latencyMs: number;
  /** Held after the work is done, before the answer is sent. */
  heldAfterWorkMs: number;
  terminal?: FaultRule;
}

export interface RateLimitSetting {
  endpoint: string;
  limit: number;
  window_seconds?: number;
}

export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Epoch seconds, as x-rate-limit-reset carries it. */
  reset: number;
}

export interface CallCounts {
  total: number;
  by_endpoint: Record<string, number>;
}

function randomToken(length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = crypto.randomBytes(length);
  let out = '';
  for (const b of bytes) out += alphabet[b % alphabet.length];
  return out;
}

function extractMentions(text: string): Set<string> {
  const found = new Set<string>();
  for (const match of text.matchAll(MENTION)) found.add(match[1].toLowerCase());
  return found;
}

function contentKey(authorId: string, text: string): string {
  return `${authorId}\u0000${text}`;
}

function append(index: Map<string, TweetRecord[]>, key: string, tweet: TweetRecord): void {
  const list = index.get(key);
  if (list) list.push(tweet);
  else index.set(key, [tweet]);
}

function remove(index: Map<string, TweetRecord[]>, key: string, tweet: TweetRecord): void {
  const list = index.get(key)?.filter((t) => t !== tweet);
  if (list && list.length > 0) index.set(key, list);
  else index.delete(key);
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

/**
 * Everything the emulator knows: users and their credentials, tweets, rate-limit windows, fault
 * rules and call counters. The control endpoints are thin wrappers around these methods, so
 * in-process callers (tests, the sandbox pages) can use it without HTTP.
 */
// X Premium's limit for long posts (other users' replies can be that long).
const LONG_POST_MAX = 25_000;

/** What the clock control answers: the emulator's time and how far it is from the machine's. */
export interface ClockView {
  now: string;
  offset_ms: number;
}

/** A user as a keeper stores it: everything but the keys (a keeper derives those from where they already live). */
export interface KeptUser {
  id: string;
  username: string;
  name: string;
  description: string;
  createdAtMs: number;
  revoked: boolean;
  access: AccessLevel;
}

/** A tweet as a keeper stores it (its mentions follow from its text). */
export interface KeptTweet {
  id: string;
  text: string;
  authorId: string;
  createdAtMs: number;
  conversationId: string;
  inReplyToTweetId?: string;
  inReplyToUserId?: string;
  hidden?: boolean;
  /** Photos, videos and GIFs attached: their keys and addresses, never the files. */
  media?: AttachedMedia[];
}

/** One change of the users or tweets, in the order it happened. */
export type EmulatorChange =
  | { kind: 'user'; user: KeptUser }
  | { kind: 'tweet'; tweet: KeptTweet }
  | { kind: 'tweet_deleted'; id: string }
  | { kind: 'reset' };

/**
 * Where a long-lived emulator (the server's sandbox) keeps its users and tweets. `record` is
 * called synchronously with each change; `stored` resolves once every change recorded so far is
 * kept (or rejects), and callers answer only then. The standalone emulator has no keeper.
 */
export interface EmulatorKeeper {
  record(change: EmulatorChange): void;
  stored(): Promise<void>;
}

/** What a keeper gives back at start: the users and tweets (deleted ones only as ids, for the id sequence). */
export interface KeptState {
  users: KeptUser[];
  tweets: KeptTweet[];
  /** The highest id ever handed out, deleted tweets included, so no id is handed out twice. */
  lastId: string | null;
}

export class EmulatorState {
  readonly clock: EmulatorClock;
  readonly now: () => number;
  private readonly source: () => number;
  private readonly random: () => number;
  private ids = new SnowflakeGenerator();

  private users = new Map<string, UserRecord>();
  private usernames = new Map<string, string>();
  private consumers = new Map<string, string>();
  private tokens = new Map<string, { userId: string; consumerKey: string; secret: string }>();

  private tweets = new Map<string, TweetRecord>();
  /** All tweets in id order (ids only ever grow, so appending keeps the order). */
  private tweetList: TweetRecord[] = [];
  // Indexes (each list in id order) so posting and timelines stay cheap with many tweets.
  private byAuthor = new Map<string, TweetRecord[]>();
  private byMention = new Map<string, TweetRecord[]>();
  private byContent = new Map<string, TweetRecord[]>();

  private limits = new Map<string, { limit: number; windowMs: number }>();
  private windows = new Map<string, { resetAtMs: number; used: number }>();
  private blocks = new Map<string, number>();

  private faults: ActiveFault[] = [];
  private calls = new Map<string, number>();
  private behaviourNow: EmulatorBehaviour = { ...DEFAULT_BEHAVIOUR };
  private keeper: EmulatorKeeper | null = null;

  /** Webhooks, Activity API subscriptions and signed event delivery (src/emulator/webhooks.ts). */
  readonly webhooks: WebhookHub;
  /** Media uploads and their processing (src/emulator/media.ts). */
  readonly media: EmulatorMedia;
  /** Direct messages and the apps' DM permission (src/emulator/dm-state.ts). */
  readonly dms: DirectMessages;

  constructor(options: EmulatorOptions = {}) {
    this.source = options.now ?? Date.now;
    let start: number | undefined;
    if (options.startAt !== undefined) {
      const parsed = typeof options.startAt === 'number' ? options.startAt : parseInstant(options.startAt);
      if (parsed === null || !Number.isFinite(parsed)) throw new EmulatorInputError(400, `the clock start '${String(options.startAt)}' is not an ISO-8601 time with a zone, e.g. 2026-12-01T09:00:00Z`);
      start = parsed;
    }
    this.clock = new EmulatorClock(this.source, start);
    this.now = () => this.clock.now();
    this.random = options.random ?? Math.random;
    this.media = new EmulatorMedia(this.now);
    this.webhooks = new WebhookHub({
      now: this.now,
      consumerSecret: (key) => this.consumerSecret(key),
      usernameOf: (id) => this.users.get(id)?.username.toLowerCase(),
    });
    this.dms = new DirectMessages({
      now: this.now,
      ensureUser: (username) => this.ensureUser(username),
      getUser: (id) => this.users.get(id),
      delivered: (event, sender) => this.webhooks.dmReceived({ ...event, sender, recipient: this.users.get(event.recipientId) as UserRecord }),
    });
  }

  // ---- clock -------------------------------------------------------------------------------

  clockView(): ClockView {
    const now = this.now();
    return { now: new Date(now).toISOString(), offset_ms: now - this.source() };
  }

  /** `{now: ISO}` sets the clock, `{advance_ms: N}` moves it forward; exactly one of them. */
  changeClock(input: { now?: unknown; advance_ms?: unknown }): ClockView {
    const given = (['now', 'advance_ms'] as const).filter((key) => input[key] !== undefined);
    if (given.length !== 1) throw new EmulatorInputError(400, 'give either now (an ISO-8601 time with a zone) or advance_ms (milliseconds to move forward), not both or neither');
    if (input.now !== undefined) {
      const ms = typeof input.now === 'string' ? parseInstant(input.now) : null;
      if (ms === null) throw new EmulatorInputError(400, `now must be an ISO-8601 time with a zone, e.g. 2026-12-01T09:00:00Z, not ${JSON.stringify(input.now)}`);
      this.clock.set(ms);
    } else {
      const ms = input.advance_ms;
      if (typeof ms !== 'number' || !Number.isSafeInteger(ms) || ms < 0) {
        throw new EmulatorInputError(400, `advance_ms must be a whole number of milliseconds, 0 or more (set now to go back), not ${JSON.stringify(ms)}`);
      }
      this.clock.advance(ms);
    }
    return this.clockView();
  }

  // ---- keeping (the server's sandbox) -------------------------------------------------------

  /**
   * Takes back what a keeper stored, into an empty emulator: users (without keys: see
   * attachCredentials), tweets with their ids and times, and the id sequence.
   */
  restore(kept: KeptState): void {
    if (this.users.size > 0 || this.tweets.size > 0) throw new Error('restore() needs an empty emulator');
    for (const user of kept.users) {
      this.users.set(user.id, { ...user });
      this.usernames.set(user.username.toLowerCase(), user.id);
    }
    const tweets = [...kept.tweets].sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
    for (const tweet of tweets) this.index({ ...tweet, mentions: extractMentions(tweet.text) });
    if (kept.lastId !== null) this.ids.continueAfter(kept.lastId);
  }

  /** From now on every change of users and tweets goes to the keeper. */
  keepChangesWith(keeper: EmulatorKeeper): void {
    this.keeper = keeper;
  }

  /** A promise for the keeper having stored every change so far; null when nothing keeps this emulator. */
  changesStored(): Promise<void> | null {
    return this.keeper ? this.keeper.stored() : null;
  }

  /** A user known from elsewhere (a stored account's user id), made again with that id. */
  addKnownUser(user: KeptUser): void {
    if (!USERNAME.test(user.username)) throw new EmulatorInputError(400, 'username must be 1 to 15 letters, digits or underscores');
    if (this.usernames.has(user.username.toLowerCase())) throw new EmulatorInputError(409, `user @${user.username} already exists`);
    if (!/^[0-9]{1,19}$/.test(user.id) || this.users.has(user.id)) throw new EmulatorInputError(409, `user id ${user.id} is taken or not an id`);
    this.users.set(user.id, { ...user });
    this.usernames.set(user.username.toLowerCase(), user.id);
    this.ids.continueAfter(user.id);
    this.keepUser(this.users.get(user.id) as UserRecord);
  }

  /** Gives a restored user its keys again (a keeper does not store them). */
  attachCredentials(userId: string, credentials: Credentials): void {
    const user = this.users.get(userId);
    if (!user) throw new EmulatorInputError(404, `no user with id ${userId}`);
    const knownSecret = this.consumers.get(credentials.api_key);
    if (knownSecret !== undefined && knownSecret !== credentials.api_key_secret) {
      throw new EmulatorInputError(409, 'consumer_key is already registered with a different consumer_secret');
    }
    const holder = this.tokens.get(credentials.access_token);
    if (holder && holder.userId !== userId) throw new EmulatorInputError(409, 'access_token is already in use');
    user.credentials = { ...credentials };
    this.consumers.set(credentials.api_key, credentials.api_key_secret);
    this.tokens.set(credentials.access_token, { userId, consumerKey: credentials.api_key, secret: credentials.access_token_secret });
  }

  private keepUser(user: UserRecord): void {
    if (!this.keeper) return;
    const { id, username, name, description, createdAtMs, revoked, access } = user;
    this.keeper.record({ kind: 'user', user: { id, username, name, description, createdAtMs, revoked, access } });
  }

  private keepTweet(tweet: TweetRecord): void {
    if (!this.keeper) return;
    const { mentions: _derived, ...kept } = tweet;
    this.keeper.record({ kind: 'tweet', tweet: kept });
  }

  // ---- users -------------------------------------------------------------------------------

  createUser(input: CreateUserInput): CreatedUser {
    if (!input || typeof input.username !== 'string' || !USERNAME.test(input.username)) {
      throw new EmulatorInputError(400, 'username must be 1 to 15 letters, digits or underscores');
    }
    if (this.usernames.has(input.username.toLowerCase())) {
      throw new EmulatorInputError(409, `user @${input.username} already exists`);
    }
    for (const key of ['name', 'consumer_key', 'consumer_secret', 'access_token', 'access_token_secret'] as const) {
      if (input[key] !== undefined && !isNonEmptyString(input[key])) throw new EmulatorInputError(400, `${key} must be a non-empty string`);
    }
    const id = this.ids.next(this.now());
    const credentials: Credentials = {
      api_key: input.consumer_key ?? randomToken(25),
      api_key_secret: input.consumer_secret ?? randomToken(50),
      access_token: input.access_token ?? `${id}-${randomToken(40)}`,
      access_token_secret: input.access_token_secret ?? randomToken(45),
    };
    const knownSecret = this.consumers.get(credentials.api_key);
    if (knownSecret !== undefined && knownSecret !== credentials.api_key_secret) {
      throw new EmulatorInputError(409, 'consumer_key is already registered with a different consumer_secret');
    }
    if (this.tokens.has(credentials.access_token)) throw new EmulatorInputError(409, 'access_token is already in use');

    const user = this.addUser(id, input.username, input.name);
    user.credentials = credentials;
    this.consumers.set(credentials.api_key, credentials.api_key_secret);
    this.tokens.set(credentials.access_token, { userId: id, consumerKey: credentials.api_key, secret: credentials.access_token_secret });
    return { id, username: user.username, name: user.name, credentials: { ...credentials } };
  }

  private addUser(id: string, username: string, name?: string): UserRecord {
    const user: UserRecord = {
      id,
      username,
      name: name ?? username,
      description: '',
      createdAtMs: this.now(),
      revoked: false,
      access: 'read-write',
    };
    this.users.set(id, user);
    this.usernames.set(username.toLowerCase(), id);
    this.keepUser(user);
    return user;
  }

  /** An "other user" such as @alice: no credentials, made on first use. */
  ensureUser(username: string): UserRecord {
    const existing = this.findUser(username);
    if (existing) return existing;
    if (typeof username !== 'string' || !USERNAME.test(username)) {
      throw new EmulatorInputError(400, '`as` must be a username of 1 to 15 letters, digits or underscores');
    }
    return this.addUser(this.ids.next(this.now()), username);
  }

  findUser(username: string): UserRecord | undefined {
    if (typeof username !== 'string') return undefined;
    const id = this.usernames.get(username.replace(/^@/, '').toLowerCase());
    return id === undefined ? undefined : this.users.get(id);
  }

  getUser(id: string): UserRecord | undefined {
    return this.users.get(id);
  }

  listUsers(): UserSummary[] {
    return [...this.users.values()].map((u) => ({
      id: u.id,
      username: u.username,
      name: u.name,
      access: u.access,
      revoked: u.revoked,
      has_credentials: u.credentials !== undefined,
    }));
  }

  private requireUser(username: string): UserRecord {
    const user = this.findUser(username);
    if (!user) throw new EmulatorInputError(404, `no user @${username}`);
    return user;
  }

  revokeUser(username: string): void {
    const user = this.requireUser(username);
    user.revoked = true;
    this.keepUser(user);
  }

  restoreUser(username: string): void {
    const user = this.requireUser(username);
    user.revoked = false;
    this.keepUser(user);
  }

  setAccessLevel(username: string, level: AccessLevel): void {
    if (!ACCESS_LEVELS.includes(level)) throw new EmulatorInputError(400, `level must be one of ${ACCESS_LEVELS.join(', ')}`);
    const user = this.requireUser(username);
    user.access = level;
    this.keepUser(user);
  }

  /** Lets the user post long posts through the API, or not (X Premium). */
  setLongPosts(username: string, allowed: unknown): void {
    if (typeof allowed !== 'boolean') throw new EmulatorInputError(400, 'allowed must be true or false');
    const user = this.requireUser(username);
    user.longPosts = allowed;
  }

  /** Uses up the user's pay-per-use credits (every call answered 402), or adds them again. */
  setCreditsDepleted(username: string, depleted: unknown): void {
    if (typeof depleted !== 'boolean') throw new EmulatorInputError(400, 'depleted must be true or false');
    this.requireUser(username).creditsDepleted = depleted;
  }

  // ---- OAuth lookups -----------------------------------------------------------------------

  consumerSecret(consumerKey: string): string | undefined {
    return this.consumers.get(consumerKey);
  }

  /** The token's secret, unless the token is unknown, revoked or belongs to another app. */
  tokenSecret(consumerKey: string, token: string): string | undefined {
    const entry = this.tokens.get(token);
    if (!entry || entry.consumerKey !== consumerKey) return undefined;
    const user = this.users.get(entry.userId);
    if (!user || user.revoked) return undefined;
    return entry.secret;
  }

  /** An X app known by its consumer key alone (the three-legged flow's apps have no user of their own). */
  registerApp(consumerKey: string, consumerSecret: string): void {
    if (!isNonEmptyString(consumerKey) || !isNonEmptyString(consumerSecret)) throw new EmulatorInputError(400, 'consumer_key and consumer_secret must be non-empty strings');
    const knownSecret = this.consumers.get(consumerKey);
    if (knownSecret !== undefined && knownSecret !== consumerSecret) {
      throw new EmulatorInputError(409, 'consumer_key is already registered with a different consumer_secret');
    }
    this.consumers.set(consumerKey, consumerSecret);
  }

  /** A new access token of an existing user for an app, as X issues when the user authorizes it. */
  issueAccessToken(userId: string, consumerKey: string): { token: string; secret: string } {
    const user = this.users.get(userId);
    if (!user) throw new EmulatorInputError(404, `no user with id ${userId}`);
    if (!this.consumers.has(consumerKey)) throw new EmulatorInputError(404, 'unknown consumer key');
    const issued = { token: `${userId}-${randomToken(40)}`, secret: randomToken(45) };
    this.tokens.set(issued.token, { userId, consumerKey, secret: issued.secret });
    // A user made without keys (an "other user") gets these as its own, so it can be restored.
    user.credentials ??= { api_key: consumerKey, api_key_secret: this.consumers.get(consumerKey) as string, access_token: issued.token, access_token_secret: issued.secret };
    return issued;
  }

  userForToken(token: string): UserRecord | undefined {
    const entry = this.tokens.get(token);
    return entry ? this.users.get(entry.userId) : undefined;
  }

  // ---- tweets ------------------------------------------------------------------------------

  /** Creates a tweet after X's checks: not empty, at most 280 weighted characters, known parent, not a duplicate. */
  createTweet(authorId: string, text: string, options: { inReplyToTweetId?: string; createdAtMs?: number; longPost?: boolean; hidden?: boolean; media?: AttachedMedia[] } = {}): TweetRecord {
    const author = this.users.get(authorId);
    if (!author) throw new EmulatorInputError(404, `no user with id ${authorId}`);
    if (text.trim() === '' && !options.media?.length) throw new TweetRejection('empty', 'Tweet text must not be empty.');
    if (options.longPost) {
      if (text.length > LONG_POST_MAX) throw new TweetRejection('too_long', `A long post is at most ${LONG_POST_MAX} characters.`);
    } else if (weightedLength(text) > MAX_TWEET_WEIGHT) {
      throw new TweetRejection('too_long', 'Tweet text is longer than 280 weighted characters.');
    }
    let parent: TweetRecord | undefined;
    if (options.inReplyToTweetId !== undefined) {
      parent = this.tweets.get(options.inReplyToTweetId);
      if (!parent) throw new TweetRejection('reply_not_found', 'The Tweet being replied to does not exist or has been deleted.');
    }
    const now = this.now();
    const since = now - DAY_MS;
    for (const other of this.behaviourNow.refuse_duplicates ? this.byContent.get(contentKey(authorId, text)) ?? [] : []) {
      if (other.createdAtMs >= since) {
        throw new TweetRejection('duplicate', 'Duplicate of a tweet the same author posted in the last 24 hours.');
      }
    }
    const createdAtMs = options.createdAtMs ?? now;
    const id = this.ids.next(createdAtMs);
    const tweet: TweetRecord = {
      id,
      text,
      authorId,
      createdAtMs,
      conversationId: parent ? parent.conversationId : id,
      mentions: extractMentions(text),
    };
    if (parent) {
      tweet.inReplyToTweetId = parent.id;
      tweet.inReplyToUserId = parent.authorId;
    }
    if (options.hidden) tweet.hidden = true;
    if (options.media?.length) tweet.media = options.media;
    if (this.behaviourNow.timeline_delay_ms > 0) tweet.shownAtMs = now + this.behaviourNow.timeline_delay_ms;
    this.index(tweet);
    this.keepTweet(tweet);
    this.webhooks.tweetCreated({ ...tweet, authorUsername: author.username, authorName: author.name });
    return tweet;
  }

  private index(tweet: TweetRecord): void {
    this.tweets.set(tweet.id, tweet);
    this.tweetList.push(tweet);
    append(this.byAuthor, tweet.authorId, tweet);
    append(this.byContent, contentKey(tweet.authorId, tweet.text), tweet);
    for (const name of tweet.mentions) append(this.byMention, name, tweet);
  }

  /** Posts as another user (made on the fly), prefixing replies with @mentions like X clients do. */
  postAs(input: PostAsInput): ControlTweet {
    if (!input || typeof input.text !== 'string') throw new EmulatorInputError(400, 'text must be a string');
    if (input.in_reply_to_tweet_id !== undefined && typeof input.in_reply_to_tweet_id !== 'string') {
      throw new EmulatorInputError(400, 'in_reply_to_tweet_id must be a string');
    }
    let createdAtMs: number | undefined;
    if (input.created_at !== undefined) {
      createdAtMs = typeof input.created_at === 'string' ? Date.parse(input.created_at) : NaN;
      if (Number.isNaN(createdAtMs)) throw new EmulatorInputError(400, 'created_at must be an ISO-8601 timestamp');
    }
    let media: AttachedMedia[] | undefined;
    try {
      media = input.media === undefined ? undefined : this.media.madeUp(input.media);
    } catch (error) {
      if (error instanceof MediaRefusal) throw new EmulatorInputError(400, error.message);
      throw error;
    }
    const author = this.ensureUser(input.as);
    let text = input.text;
    if (input.in_reply_to_tweet_id !== undefined && input.mention !== false) {
      const parent = this.tweets.get(input.in_reply_to_tweet_id);
      if (parent) text = this.replyPrefix(parent, author.id) + text;
    }
    try {
      const tweet = this.createTweet(author.id, text, { inReplyToTweetId: input.in_reply_to_tweet_id, createdAtMs, longPost: input.long_post === true, hidden: input.hidden === true, media });
      return this.toControlTweet(tweet);
    } catch (error) {
      if (error instanceof TweetRejection) throw new EmulatorInputError(error.reason === 'duplicate' ? 403 : 400, error.message);
      throw error;
    }
  }

  private replyPrefix(parent: TweetRecord, authorId: string): string {
    const handles: string[] = [];
    const root = this.tweets.get(parent.conversationId);
    for (const userId of [parent.authorId, root?.authorId]) {
      const user = userId === undefined ? undefined : this.users.get(userId);
      if (user && user.id !== authorId && !handles.includes(user.username)) handles.push(user.username);
    }
    return handles.map((h) => `@${h} `).join('');
  }

  /** Whether timelines, mentions and search show the tweet yet. */
  isShown(tweet: TweetRecord): boolean {
    return !tweet.hidden && (tweet.shownAtMs === undefined || tweet.shownAtMs <= this.now());
  }

  behaviour(): EmulatorBehaviour {
    return { ...this.behaviourNow };
  }

  /** Changes the given behaviours, keeping the others; bad values are refused in words. */
  setBehaviour(change: Record<string, unknown>): EmulatorBehaviour {
    const next = { ...this.behaviourNow };
    for (const [name, value] of Object.entries(change)) {
      if (name === 'timeline_delay_ms') {
        if (!(typeof value === 'number' && Number.isInteger(value) && value >= 0)) throw new EmulatorInputError(400, 'timeline_delay_ms must be a whole number of milliseconds, 0 or more');
        next.timeline_delay_ms = value;
      } else if (name === 'refuse_duplicates') {
        if (typeof value !== 'boolean') throw new EmulatorInputError(400, 'refuse_duplicates must be true or false');
        next.refuse_duplicates = value;
      } else {
        throw new EmulatorInputError(400, `unknown behaviour '${name}'; known: ${Object.keys(DEFAULT_BEHAVIOUR).join(', ')}`);
      }
    }
    this.behaviourNow = next;
    return { ...next };
  }

  /** Makes a hidden tweet visible to API reads, with the id it always had. */
  revealTweet(id: string): boolean {
    const tweet = this.tweets.get(id);
    if (!tweet) return false;
    delete tweet.hidden;
    this.keepTweet(tweet);
    return true;
  }

  getTweetRecord(id: string): TweetRecord | undefined {
    return this.tweets.get(id);
  }

  deleteTweet(id: string): boolean {
    const tweet = this.tweets.get(id);
    if (!tweet) return false;
    this.tweets.delete(id);
    this.tweetList = this.tweetList.filter((t) => t !== tweet);
    remove(this.byAuthor, tweet.authorId, tweet);
    remove(this.byContent, contentKey(tweet.authorId, tweet.text), tweet);
    for (const name of tweet.mentions) remove(this.byMention, name, tweet);
    this.keeper?.record({ kind: 'tweet_deleted', id });
    return true;
  }

  /** One author's tweets, oldest first. */
  tweetsBy(authorId: string): readonly TweetRecord[] {
    return this.byAuthor.get(authorId) ?? [];
  }

  /** Tweets whose text @mentions the username (case-insensitive), oldest first. */
  mentionsOf(username: string): readonly TweetRecord[] {
    return this.byMention.get(username.toLowerCase()) ?? [];
  }

  /** All tweets, oldest first. */
  allTweets(): readonly TweetRecord[] {
    return this.tweetList;
  }

  toControlTweet(tweet: TweetRecord): ControlTweet {
    const view: ControlTweet = {
      id: tweet.id,
      text: tweet.text,
      author_id: tweet.authorId,
      author_username: this.users.get(tweet.authorId)?.username ?? '',
      created_at: new Date(tweet.createdAtMs).toISOString(),
      conversation_id: tweet.conversationId,
      edit_history_tweet_ids: [tweet.id],
    };
    if (tweet.inReplyToTweetId !== undefined) {
      view.in_reply_to_user_id = tweet.inReplyToUserId;
      view.in_reply_to_tweet_id = tweet.inReplyToTweetId;
      view.referenced_tweets = [{ type: 'replied_to', id: tweet.inReplyToTweetId }];
    }
    if (tweet.media) view.media = tweet.media.map((item) => renderMedia(item, new Set(['url', 'preview_image_url'])));
    return view;
  }

  /** Tweets oldest first, optionally only one author's. */
  listTweets(filter: { author?: string } = {}): ControlTweet[] {
    let list: readonly TweetRecord[] = this.tweetList;
    if (filter.author !== undefined) {
      const user = this.findUser(filter.author);
      if (!user) return [];
      list = this.tweetsBy(user.id);
    }
    return list.map((t) => this.toControlTweet(t));
  }

  getTweet(id: string): ControlTweet | undefined {
    const tweet = this.tweets.get(id);
    return tweet ? this.toControlTweet(tweet) : undefined;
  }

  /** The user's tweets newest first, each with everything below it in its conversation. */
  timeline(username: string): TimelineView {
    const user = this.requireUser(username);
    const children = new Map<string, TweetRecord[]>();
    for (const t of this.tweetList) {
      if (t.inReplyToTweetId === undefined) continue;
      const list = children.get(t.inReplyToTweetId) ?? [];
      list.push(t);
      children.set(t.inReplyToTweetId, list);
    }
    const below = (id: string): TweetRecord[] => {
      const out: TweetRecord[] = [];
      const stack = [...(children.get(id) ?? [])];
      while (stack.length > 0) {
        const next = stack.pop() as TweetRecord;
        out.push(next);
        stack.push(...(children.get(next.id) ?? []));
      }
      return out.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
    };
    const own = [...this.tweetsBy(user.id)].reverse();
    return {
      user: { id: user.id, username: user.username, name: user.name },
      tweets: own.map((t) => ({ ...this.toControlTweet(t), replies: below(t.id).map((r) => this.toControlTweet(r)) })),
    };
  }

  // ---- rate limits -------------------------------------------------------------------------

  rateLimitFor(endpoint: string): { limit: number; windowMs: number } {
    const custom = this.limits.get(endpoint);
    if (custom) return custom;
    const limit = (DEFAULT_RATE_LIMITS as Record<string, number>)[endpoint] ?? 900;
    return { limit, windowMs: DEFAULT_WINDOW_SECONDS * 1000 };
  }

  setRateLimit(setting: RateLimitSetting): void {
    if (!setting || !(ENDPOINT_KEYS as readonly string[]).includes(setting.endpoint)) {
      throw new EmulatorInputError(400, `endpoint must be one of: ${ENDPOINT_KEYS.join(', ')}`);
    }
    if (!Number.isInteger(setting.limit) || setting.limit < 0) throw new EmulatorInputError(400, 'limit must be a non-negative integer');
    const seconds = setting.window_seconds ?? DEFAULT_WINDOW_SECONDS;
    if (!Number.isFinite(seconds) || seconds <= 0) throw new EmulatorInputError(400, 'window_seconds must be a positive number');
    this.limits.set(setting.endpoint, { limit: setting.limit, windowMs: seconds * 1000 });
    // A new limit starts fresh windows, so a test sees exactly the limit it set.
    for (const key of [...this.windows.keys()]) if (key.endsWith(` ${setting.endpoint}`)) this.windows.delete(key);
  }

  /** Counts one call against the user's window for the endpoint, or refuses it. */
  consumeRateLimit(userId: string, endpoint: string): RateLimitDecision {
    const now = this.now();
    const key = `${userId} ${endpoint}`;
    const { limit, windowMs } = this.rateLimitFor(endpoint);
    const blockedUntil = this.blocks.get(key);
    if (blockedUntil !== undefined) {
      if (blockedUntil > now) return { allowed: false, limit, remaining: 0, reset: Math.ceil(blockedUntil / 1000) };
      this.blocks.delete(key);
      this.windows.delete(key);
    }
    let window = this.windows.get(key);
    if (!window || window.resetAtMs <= now) {
      window = { resetAtMs: now + windowMs, used: 0 };
      this.windows.set(key, window);
    }
    const reset = Math.ceil(window.resetAtMs / 1000);
    if (window.used >= limit) return { allowed: false, limit, remaining: 0, reset };
    window.used += 1;
    return { allowed: true, limit, remaining: limit - window.used, reset };
  }

  /** A forced 429 (fault): refuses the user's calls to the endpoint for the given seconds. */
  blockRateLimit(userId: string, endpoint: string, seconds: number): RateLimitDecision {
    const until = this.now() + seconds * 1000;
    this.blocks.set(`${userId} ${endpoint}`, until);
    return { allowed: false, limit: this.rateLimitFor(endpoint).limit, remaining: 0, reset: Math.ceil(until / 1000) };
  }

  // ---- faults ------------------------------------------------------------------------------

  addFaults(rules: FaultRule[]): void {
    if (!Array.isArray(rules)) throw new EmulatorInputError(400, 'rules must be an array');
    const checked = rules.map((rule) => this.checkFault(rule));
    for (const rule of checked) {
      const remaining = rule.count ?? (rule.probability !== undefined ? Infinity : 1);
      this.faults.push({ rule, remaining });
    }
  }

  private checkFault(rule: FaultRule): FaultRule {
    if (!rule || typeof rule !== 'object') throw new EmulatorInputError(400, 'each rule must be an object');
    if (rule.endpoint !== '*' && !(ENDPOINT_KEYS as readonly string[]).includes(rule.endpoint)) {
      throw new EmulatorInputError(400, `endpoint must be "*" or one of: ${ENDPOINT_KEYS.join(', ')}`);
    }
    if (!FAULT_KINDS.includes(rule.kind)) throw new EmulatorInputError(400, `kind must be one of: ${FAULT_KINDS.join(', ')}`);
    if (rule.count !== undefined && (!Number.isInteger(rule.count) || rule.count < 1)) throw new EmulatorInputError(400, 'count must be a positive integer');
    if (rule.probability !== undefined && !(typeof rule.probability === 'number' && rule.probability >= 0 && rule.probability <= 1)) {
      throw new EmulatorInputError(400, 'probability must be between 0 and 1');
    }
    if (rule.kind === 'latency' && !(typeof rule.ms === 'number' && rule.ms >= 0)) throw new EmulatorInputError(400, 'latency needs ms >= 0');
    if (rule.afterWork !== undefined && !(rule.kind === 'latency' && typeof rule.afterWork === 'boolean')) {
      throw new EmulatorInputError(400, 'afterWork is true or false, on a latency rule only');
    }
    if (rule.kind === 'status' && !(Number.isInteger(rule.status) && (rule.status as number) >= 400 && (rule.status as number) <= 599)) {
      throw new EmulatorInputError(400, 'status needs an HTTP error status (400..599)');
    }
    if (rule.resetInSeconds !== undefined && !(typeof rule.resetInSeconds === 'number' && rule.resetInSeconds > 0)) {
      throw new EmulatorInputError(400, 'resetInSeconds must be a positive number');
    }
    if (rule.username !== undefined && typeof rule.username !== 'string') throw new EmulatorInputError(400, 'username must be a string');
    if (rule.skip !== undefined && (!Number.isInteger(rule.skip) || rule.skip < 0)) throw new EmulatorInputError(400, 'skip must be a whole number, 0 or more');
    return { ...rule };
  }

  clearFaults(): void {
    this.faults = [];
  }

  listFaults(): Array<FaultRule & { remaining: number | null }> {
    return this.faults.map((f) => ({ ...f.rule, remaining: Number.isFinite(f.remaining) ? f.remaining : null }));
  }

  /**
   * Picks the faults for one call: every matching latency rule adds its delay; the first matching
   * rule of any other kind is the call's fate. Only the rules that fire are used up.
   */
  takeFaults(endpoint: string, username: string | undefined): FaultSelection {
    const selection: FaultSelection = { latencyMs: 0, heldAfterWorkMs: 0 };
    for (const fault of this.faults) {
      const { rule } = fault;
      if (fault.remaining <= 0) continue;
      if (rule.endpoint !== '*' && rule.endpoint !== endpoint) continue;
      if (rule.username !== undefined && rule.username.toLowerCase() !== username?.toLowerCase()) continue;
      if (rule.kind !== 'latency' && selection.terminal) continue;
      if (rule.probability !== undefined && this.random() >= rule.probability) continue;
      if ((fault.skipped ?? 0) < (rule.skip ?? 0)) {
        fault.skipped = (fault.skipped ?? 0) + 1;
        continue;
      }
      fault.remaining -= 1;
      if (rule.kind === 'latency' && rule.afterWork === true) selection.heldAfterWorkMs += rule.ms ?? 0;
      else if (rule.kind === 'latency') selection.latencyMs += rule.ms ?? 0;
      else selection.terminal = rule;
    }
    this.faults = this.faults.filter((f) => f.remaining > 0);
    return selection;
  }

  // ---- call counters -----------------------------------------------------------------------

  recordCall(endpoint: string): void {
    this.calls.set(endpoint, (this.calls.get(endpoint) ?? 0) + 1);
  }

  getCalls(): CallCounts {
    let total = 0;
    const byEndpoint: Record<string, number> = {};
    for (const [key, count] of this.calls) {
      byEndpoint[key] = count;
      total += count;
    }
    return { total, by_endpoint: byEndpoint };
  }

  resetCalls(): void {
    this.calls.clear();
  }

  /** Back to empty and to the clock as started, id sequence included, so ids keep encoding the (possibly rewound) clock. */
  reset(): void {
    this.clock.reset();
    this.ids = new SnowflakeGenerator();
    this.users.clear();
    this.usernames.clear();
    this.consumers.clear();
    this.tokens.clear();
    this.tweets.clear();
    this.tweetList = [];
    this.byAuthor.clear();
    this.byMention.clear();
    this.byContent.clear();
    this.limits.clear();
    this.windows.clear();
    this.blocks.clear();
    this.faults = [];
    this.calls.clear();
    this.behaviourNow = { ...DEFAULT_BEHAVIOUR };
    this.keeper?.record({ kind: 'reset' });
    this.webhooks.reset();
    this.media.reset();
    this.dms.reset();
  }
}
