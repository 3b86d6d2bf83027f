import type { TwitterApi, ITwitterApiClientPlugin } from 'twitter-api-v2';
import type { Clock } from '../lib/clock';
import { classifyXError, XAccessError, XDirectMessagesAccessError, XIncompleteReadError, XPageCapError, XRateLimitError, XTransientError, XUnknownOutcomeError } from './errors';
import { SEARCH_WINDOW_DAYS } from './limits';
import { tweetIdTimeMs } from './snowflake';
import { attachedMedia } from './x-media';
import { createTwitterApi, type XCredentials } from './x-client-factory';

export interface XTweet {
  id: string;
  text: string;
  authorId: string | null;
  authorUsername: string | null;
  createdAt: string | null;
  conversationId: string | null;
  inReplyToTweetId: string | null;
  inReplyToUserId: string | null;
  /** The photos, videos and GIFs attached, from the media expansion. */
  media?: XMedia[];
}

/** A post's attached media as X describes it (media.fields=type,url,preview_image_url). */
export interface XMedia {
  type: 'photo' | 'video' | 'animated_gif' | string;
  /** Photos have a url; videos and GIFs a preview image. */
  url: string | null;
  previewImageUrl: string | null;
}

/** A direct message event as GET /2/dm_events gives it. */
export interface XDmEvent {
  id: string;
  text: string;
  senderId: string | null;
  senderUsername: string | null;
  conversationId: string | null;
  createdAt: string | null;
  mediaKeys: string[];
}

export interface RateLimitState {
  limit: number;
  remaining: number;
  reset: number;
}

export interface XClientOptions {
  credentials: XCredentials;
  apiBaseUrl?: string | null;
  clock: Clock;
  retryBaseMs: number;
  maxRateLimitWaitMs: number;
  /** Reads are retried this many times on transient errors before giving up for this cycle. */
  maxReadAttempts?: number;
  /** More twitter-api-v2 plugins, e.g. the /metrics counters. */
  plugins?: ITwitterApiClientPlugin[];
  /** A paged read stops after this many pages (default 100), with XPageCapError. */
  maxPagesPerRead?: number;
  /** What `done()` finishes, e.g. the cost meter's writes. */
  onDone?: () => Promise<void>;
}

interface RawTweet {
  id: string;
  text: string;
  author_id?: string;
  created_at?: string;
  conversation_id?: string;
  in_reply_to_user_id?: string;
  referenced_tweets?: Array<{ type: string; id: string }>;
  /** A long post's whole text: `text` is then cut near 280 characters. */
  note_tweet?: { text?: string };
  attachments?: { media_keys?: string[] };
}

interface RawMedia {
  media_key: string;
  type: string;
  url?: string;
  preview_image_url?: string;
}

interface RawPage {
  data?: RawTweet[];
  includes?: { users?: Array<{ id: string; username: string }>; media?: RawMedia[] };
  meta?: { result_count?: number; next_token?: string; newest_id?: string };
}

interface RawDmPage {
  data?: Array<{ id: string; text?: string; sender_id?: string; dm_conversation_id?: string; created_at?: string; attachments?: { media_keys?: string[] } }>;
  includes?: { users?: Array<{ id: string; username: string }> };
  meta?: { next_token?: string };
}

// note_tweet: a long post's whole text comes only there (its `text` is cut near 280 characters).
export const TWEET_FIELDS = 'author_id,created_at,conversation_id,in_reply_to_user_id,referenced_tweets,note_tweet,attachments';
// The replies' photos and videos: without the expansion only their t.co link survives in the text.
export const REPLY_EXPANSIONS = { expansions: 'author_id,attachments.media_keys', 'user.fields': 'username', 'media.fields': 'type,url,preview_image_url' };

const DEFAULT_MAX_PAGES_PER_READ = 100;
const DM_FIRST_PAGE_WITH_CURSOR = 5;

// A minute less than X's window leaves room for clock skew and the request's own time.
const SEARCH_WINDOW_MS = SEARCH_WINDOW_DAYS * 24 * 60 * 60 * 1000 - 60_000;

// Keys by method and path, worked out once: the hooks ask three times per call, and the regular
// expressions showed in the publish profile. Bounded, as paths carry user and tweet ids.
const endpointKeys = new Map<string, string>();
const ENDPOINT_KEYS_KEPT = 1000;

/** "POST /2/tweets", "GET /2/users/:id/mentions": a call's endpoint, ids left out. */
export function endpointKey(method: string, url: URL): string {
  const pathname = url.pathname;
  const seen = `${method} ${pathname}`;
  let key = endpointKeys.get(seen);
  if (key === undefined) {
    // Only ids after the version: "/2/" itself is not an id.
    const path = pathname.replace(/^.*?\/2\//, '');
    key = `${method.toUpperCase()} /2/${path.replace(/(^|\/)\d+(?=\/|$)/g, '$1:id')}`;
    if (endpointKeys.size >= ENDPOINT_KEYS_KEPT) endpointKeys.clear();
    endpointKeys.set(seen, key);
  }
  return key;
}

/**
 * One account's view of X: the real twitter-api-v2 client, with errors classified, reads
 * retried with backoff, short rate-limit waits taken, and every call counted.
 */
export class XClient {
  readonly calls = new Map<string, number>();
  readonly rateLimits = new Map<string, RateLimitState>();
  private readonly api: TwitterApi;
  private readonly maxReadAttempts: number;

  /** The work with this client is over: whatever its plugins hold back is written. */
  async done(): Promise<void> {
    await this.options.onDone?.();
  }

  constructor(private readonly options: XClientOptions) {
    const tracker: ITwitterApiClientPlugin = {
      onBeforeRequest: ({ url, params }) => {
        const key = endpointKey(params.method ?? 'GET', url);
        this.calls.set(key, (this.calls.get(key) ?? 0) + 1);
      },
      onAfterRequest: ({ url, params, response }) => {
        if (response.rateLimit) this.rateLimits.set(endpointKey(params.method ?? 'GET', url), { ...response.rateLimit });
      },
      onResponseError: ({ url, params, error }) => {
        if (error.rateLimit) this.rateLimits.set(endpointKey(params.method ?? 'GET', url), { ...error.rateLimit });
      },
    };
    this.api = createTwitterApi(options.credentials, options.apiBaseUrl, [tracker, ...(options.plugins ?? [])]);
    this.maxReadAttempts = options.maxReadAttempts ?? 4;
  }

  /** Where this client's requests go, for messages that name the address tried. */
  get address(): string {
    return this.options.apiBaseUrl || 'https://api.x.com';
  }

  get totalCalls(): number {
    let total = 0;
    for (const count of this.calls.values()) total += count;
    return total;
  }

  async me(): Promise<{ id: string; username: string; name: string }> {
    const body = await this.read(() => this.api.v2.get<{ data: { id: string; username: string; name: string } }>('users/me'));
    return body.data;
  }

  /** Posts once; never retried here, because a lost answer may hide a created tweet. */
  async postTweet(text: string, inReplyToTweetId?: string | null, mediaIds?: string[]): Promise<{ id: string; text: string }> {
    const body: Record<string, unknown> = { text };
    if (inReplyToTweetId) body.reply = { in_reply_to_tweet_id: inReplyToTweetId };
    if (mediaIds && mediaIds.length > 0) body.media = { media_ids: mediaIds };
    try {
      const result = await this.withRateLimitWait(() => this.api.v2.post<{ data: { id: string; text: string } }>('tweets', body));
      if (!result?.data?.id) throw new XUnknownOutcomeError('X answered without a tweet id');
      return result.data;
    } catch (error) {
      throw classifyXError(error, true);
    }
  }

  /** A media upload write (src/media/x-media-upload.ts): like the post, never retried here. */
  async mediaWrite<T>(path: string, body?: Record<string, unknown>, asFormData = false): Promise<T> {
    try {
      return await this.withRateLimitWait(() => this.api.v2.post<T>(path, body, asFormData ? { forceBodyMode: 'form-data' } : undefined));
    } catch (error) {
      throw classifyXError(error, true);
    }
  }

  /** A media upload read (the STATUS of a video's processing), retried like every read. */
  async mediaRead<T>(path: string, query: Record<string, string>): Promise<T> {
    return this.read(() => this.api.v2.get<T>(path, query));
  }

  /** The account's own tweets since a moment, newest first, all pages (for reconciliation). */
  async ownTweetsSince(userId: string, startTime: string): Promise<XTweet[]> {
    return this.readAllPages(`users/${userId}/tweets`, { start_time: startTime, max_results: 100, 'tweet.fields': TWEET_FIELDS }, 'pagination_token');
  }

  /** Mentions of the account newer than sinceId, all pages, with authors' usernames. */
  async mentionsSince(userId: string, sinceId: string | null): Promise<XTweet[]> {
    const query: Record<string, string | number> = { max_results: 100, 'tweet.fields': TWEET_FIELDS, ...REPLY_EXPANSIONS };
    if (sinceId) query.since_id = sinceId;
    return this.readAllPages(`users/${userId}/mentions`, query, 'pagination_token');
  }

  /**
   * Recent search, all pages, newer than sinceId and older than untilId. A sinceId from before
   * X's 7-day window (which X refuses) is replaced by the window's start: nothing older can be found.
   */
  async searchRecent(queryText: string, sinceId: string | null, untilId?: string | null): Promise<XTweet[]> {
    const query: Record<string, string | number> = { query: queryText, max_results: 100, 'tweet.fields': TWEET_FIELDS, ...REPLY_EXPANSIONS };
    const windowStartMs = this.options.clock.now().toMillis() - SEARCH_WINDOW_MS;
    if (sinceId && tweetIdTimeMs(sinceId) > windowStartMs) query.since_id = sinceId;
    else if (sinceId) query.start_time = new Date(windowStartMs).toISOString();
    if (untilId) query.until_id = untilId;
    return this.readAllPages('tweets/search/recent', query, 'next_token');
  }

  /**
   * Every page of a read. A server that repeats a page token (X's API Playground did, 190 times)
   * or pages without end is stopped: a token already followed is never followed again, and the
   * read ends at the page cap. Either way the read is incomplete and says so.
   */
  private async readAllPages(path: string, query: Record<string, string | number>, pageParameter: 'pagination_token' | 'next_token'): Promise<XTweet[]> {
    const maxPages = this.options.maxPagesPerRead ?? DEFAULT_MAX_PAGES_PER_READ;
    const tweets: XTweet[] = [];
    const followed = new Set<string>();
    let token: string | undefined;
    for (let pages = 0; ; pages++) {
      if (token !== undefined && followed.has(token)) {
        throw new XIncompleteReadError(`X repeated a page token while reading ${path} (after ${pages} pages); the read stopped there and is not complete`, tweets);
      }
      if (pages >= maxPages) {
        throw new XPageCapError(`the read of ${path} reached the cap of ${maxPages} pages (KBTS_MAX_PAGES_PER_READ) and is not complete`, tweets);
      }
      if (token !== undefined) followed.add(token);
      const pageQuery = token ? { ...query, [pageParameter]: token } : query;
      const page = await this.read(() => this.api.v2.get<RawPage>(path, pageQuery));
      const usernames = new Map((page.includes?.users ?? []).map((user) => [user.id, user.username]));
      for (const raw of page.data ?? []) tweets.push(toTweet(raw, usernames, page.includes?.media ?? []));
      token = page.meta?.next_token || undefined;
      if (token === undefined) return tweets;
    }
  }

  /**
   * The account's direct message events newest first, page by page, down to (not including)
   * `afterId` or back to `notBefore`: X keeps 30 days. A read cut short says so, with what it read.
   */
  async dmEventsSince(afterId: string | null, notBefore: string): Promise<XDmEvent[]> {
    const maxPages = this.options.maxPagesPerRead ?? DEFAULT_MAX_PAGES_PER_READ;
    const query = { event_types: 'MessageCreate', 'dm_event.fields': 'id,text,sender_id,dm_conversation_id,created_at,attachments', expansions: 'sender_id', 'user.fields': 'username' };
    const events: XDmEvent[] = [];
    const followed = new Set<string>();
    let token: string | undefined;
    for (let pages = 0; ; pages++) {
      if (token !== undefined && followed.has(token)) throw new XIncompleteReadError(`X repeated a page token while reading dm_events (after ${pages} pages); the read is not complete`, events);
      if (pages >= maxPages) throw new XIncompleteReadError(`the read of dm_events reached the cap of ${maxPages} pages (KBTS_MAX_PAGES_PER_READ) and is not complete`, events);
      if (token !== undefined) followed.add(token);
      // X charges each event it returns and has no since_id here: with a cursor, a first page of a
      // few events says whether anything is new before whole pages are read.
      const size = pages === 0 && afterId !== null ? DM_FIRST_PAGE_WITH_CURSOR : 100;
      const page = await this.directMessagesCall(() => this.read(() => this.api.v2.get<RawDmPage>('dm_events', { ...query, max_results: size, ...(token ? { pagination_token: token } : {}) })));
      const usernames = new Map((page.includes?.users ?? []).map((user) => [user.id, user.username]));
      let reachedEnd = false;
      for (const raw of page.data ?? []) {
        if ((afterId !== null && BigInt(raw.id) <= BigInt(afterId)) || (raw.created_at !== undefined && raw.created_at < notBefore)) {
          reachedEnd = true;
          break;
        }
        events.push({
          id: raw.id, text: raw.text ?? '', senderId: raw.sender_id ?? null, senderUsername: raw.sender_id ? usernames.get(raw.sender_id) ?? null : null,
          conversationId: raw.dm_conversation_id ?? null, createdAt: raw.created_at ?? null, mediaKeys: raw.attachments?.media_keys ?? [],
        });
      }
      token = page.meta?.next_token || undefined;
      if (reachedEnd || token === undefined) return events;
    }
  }

  /** Sends one direct message; never retried here, because a lost answer may hide a sent message. */
  async sendDirectMessage(participantId: string, text: string): Promise<{ id: string; conversationId: string }> {
    try {
      const result = await this.directMessagesCall(() => this.withRateLimitWait(() => this.api.v2.post<{ data: { dm_event_id: string; dm_conversation_id: string } }>(`dm_conversations/with/${participantId}/messages`, { text })));
      if (!result?.data?.dm_event_id) throw new XUnknownOutcomeError('X answered without a direct message event id');
      return { id: result.data.dm_event_id, conversationId: result.data.dm_conversation_id };
    } catch (error) {
      throw classifyXError(error, true);
    }
  }

  /** X's 403 on a DM call means the app lacks the Direct Messages permission: said so, in words. */
  private async directMessagesCall<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      const classified = classifyXError(error, false);
      if (classified instanceof XAccessError && classified.status === 403) {
        throw new XDirectMessagesAccessError(
          `the X app's permissions do not include Direct Messages; set the app to "Read, Write and Direct Messages" in the X developer console, regenerate the tokens, then resume the channel (${classified.message})`,
          { status: 403 },
        );
      }
      throw error;
    }
  }

  private async read<T>(call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.withRateLimitWait(call);
      } catch (error) {
        const classified = classifyXError(error, false);
        if (!(classified instanceof XTransientError) || attempt >= this.maxReadAttempts) throw classified;
        await this.options.clock.sleep(backoffDelay(this.options.retryBaseMs, attempt));
      }
    }
  }

  /** A 429 whose reset is near is waited out once; a later one is the caller's to defer. */
  private async withRateLimitWait<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      const classified = classifyXError(error, false);
      if (!(classified instanceof XRateLimitError)) throw error;
      const waitMs = (classified.resetAt ?? Infinity) - this.options.clock.now().toMillis();
      if (!(waitMs <= this.options.maxRateLimitWaitMs)) throw classified;
      await this.options.clock.sleep(Math.max(0, waitMs) + 250);
      try {
        return await call();
      } catch (second) {
        const again = classifyXError(second, false);
        if (again instanceof XRateLimitError) throw again;
        throw second;
      }
    }
  }
}

function toTweet(raw: RawTweet, usernames: Map<string, string>, media: RawMedia[]): XTweet {
  const attached = attachedMedia(raw.attachments, media);
  return {
    id: raw.id,
    text: raw.note_tweet?.text || raw.text,
    authorId: raw.author_id ?? null,
    authorUsername: raw.author_id ? usernames.get(raw.author_id) ?? null : null,
    createdAt: raw.created_at ?? null,
    conversationId: raw.conversation_id ?? null,
    inReplyToTweetId: raw.referenced_tweets?.find((ref) => ref.type === 'replied_to')?.id ?? null,
    inReplyToUserId: raw.in_reply_to_user_id ?? null,
    ...(attached.length > 0 ? { media: attached } : {}),
  };
}

/**
 * Exponential backoff with "equal jitter" (half fixed, half random), capped at one minute.
 * `jitter` (0..1) is the random half's share, given so that callers that must stay pure can.
 */
export function backoffDelay(baseMs: number, attempt: number, jitter = Math.random()): number {
  const ceiling = Math.min(60_000, baseMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + jitter * (ceiling / 2));
}
