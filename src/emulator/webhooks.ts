import crypto from 'node:crypto';
import { renderMedia, type AttachedMedia } from './media';
import { SnowflakeGenerator } from './snowflake';
import { EmulatorInputError } from './state';

/**
 * The emulator's webhooks and X Activity API subscriptions: per app (consumer key), as X keeps
 * them. Replies and mentions become events; each event is POSTed, signed with the app's consumer
 * secret, to the subscription's webhook. Faults on demand act out what X's delivery can do.
 */

export const ACTIVITY_EVENT_TYPES = ['post.reply.create', 'post.mention.create', 'dm.received'] as const;
export type ActivityEventType = (typeof ACTIVITY_EVENT_TYPES)[number];

export const WEBHOOK_FAULT_KINDS = ['lost', 'duplicate', 'out_of_order', 'delay', 'bad_signature', 'crc_fail'] as const;
export type WebhookFaultKind = (typeof WEBHOOK_FAULT_KINDS)[number];

export interface WebhookFaultRule {
  kind: WebhookFaultKind;
  /** How many deliveries (or CRC checks, for crc_fail) it hits; default 1. */
  count?: number;
  /** delay: how long the delivery waits; out_of_order: how long it waits at most for the next event. */
  ms?: number;
}

export interface WebhookRecord {
  id: string;
  consumerKey: string;
  url: string;
  valid: boolean;
  createdAtMs: number;
  lastCrcAtMs: number | null;
  lastCrcError: string | null;
}

export interface SubscriptionRecord {
  id: string;
  consumerKey: string;
  eventType: string;
  filter: { user_id?: string };
  tag?: string;
  webhookId?: string;
  createdAtMs: number;
  updatedAtMs: number;
}

interface StoredEvent {
  uuid: string;
  webhookId: string | undefined;
  consumerKey: string;
  tweetId: string;
  eventType: string;
  createdAtMs: number;
  body: string;
}

/** One attempt at a delivery, as the control API shows it. */
export interface DeliveryView {
  event_uuid: string;
  event_type: string;
  tweet_id: string;
  webhook_id: string | null;
  /** The receiver's HTTP status; null when nothing was sent or no answer came. */
  status: number | null;
  /** Why nothing was sent or no answer came (a fault, an invalid webhook, a network error). */
  note: string | null;
  replay: boolean;
  at: string;
}

/** The tweet as the event payload carries it, and its author for `includes`. */
export interface EventTweet {
  id: string;
  authorId: string;
  authorUsername: string;
  authorName: string;
  text: string;
  createdAtMs: number;
  conversationId: string;
  inReplyToTweetId?: string;
  inReplyToUserId?: string;
  /** Lower-cased usernames mentioned in the text. */
  mentions: Set<string>;
  media?: AttachedMedia[];
}

/** A direct message as a `dm.received` event carries it. */
export interface EventDm {
  id: string;
  text: string;
  recipientId: string;
  createdAtMs: number;
  mediaKeys?: string[];
  sender: { id: string; username: string; name: string };
  recipient: { id: string; username: string; name: string };
}

export interface WebhookHubDeps {
  now(): number;
  consumerSecret(consumerKey: string): string | undefined;
  /** The user's lower-cased username, to match mentions. */
  usernameOf(userId: string): string | undefined;
}

const CRC_TIMEOUT_MS = 10_000;
const DELIVERY_TIMEOUT_MS = 10_000;
const REPLAY_WINDOW_MS = 24 * 60 * 60 * 1000;
const MAX_WEBHOOKS_PER_APP = 3;
const MAX_SUBSCRIPTIONS_PER_APP = 1500;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

export function signWebhookBody(consumerSecret: string, body: string | Buffer): string {
  return 'sha256=' + crypto.createHmac('sha256', consumerSecret).update(body).digest('base64');
}

/** X's CRC answer: the same HMAC, over the challenge token. */
export function crcResponseToken(consumerSecret: string, crcToken: string): string {
  return signWebhookBody(consumerSecret, crcToken);
}

/** X's minute-precision replay times, yyyymmddhhmm in UTC. */
export function parseReplayDate(value: unknown): number | null {
  if (typeof value !== 'string' || !/^[0-9]{12}$/.test(value)) return null;
  const iso = `${value.slice(0, 4)}-${value.slice(4, 6)}-${value.slice(6, 8)}T${value.slice(8, 10)}:${value.slice(10, 12)}:00Z`;
  const ms = Date.parse(iso);
  return Number.isFinite(ms) && new Date(ms).toISOString().startsWith(iso.slice(0, 16)) ? ms : null;
}

/** What X refuses, by the name its error message carries (CrcValidationFailed, ...). */
export class WebhookRefusal extends Error {
  constructor(readonly code: string, readonly status: number, message: string) {
    super(message);
    this.name = 'WebhookRefusal';
  }
}

export class WebhookHub {
  private ids = new SnowflakeGenerator();
  private webhooks = new Map<string, WebhookRecord>();
  private subscriptions = new Map<string, SubscriptionRecord>();
  private events: StoredEvent[] = [];
  private faults: Array<{ rule: WebhookFaultRule; remaining: number }> = [];
  private deliveries: DeliveryView[] = [];
  private pending = new Set<Promise<void>>();
  /** An out-of-order event waits here for the next one to overtake it. */
  private heldBack: { event: StoredEvent; timer: NodeJS.Timeout; released(): void } | null = null;

  constructor(private readonly deps: WebhookHubDeps) {}

  // ---- webhooks ------------------------------------------------------------------------------

  listWebhooks(consumerKey: string): WebhookRecord[] {
    return [...this.webhooks.values()].filter((w) => w.consumerKey === consumerKey);
  }

  getWebhook(consumerKey: string, id: string): WebhookRecord | undefined {
    const webhook = this.webhooks.get(id);
    return webhook && webhook.consumerKey === consumerKey ? webhook : undefined;
  }

  /** X's rules for the URL, then a CRC request; a URL that fails it is not kept. */
  async createWebhook(consumerKey: string, url: unknown): Promise<WebhookRecord> {
    const checked = this.checkUrl(url);
    const own = this.listWebhooks(consumerKey);
    if (own.some((w) => w.url === checked)) throw new WebhookRefusal('DuplicateUrlFailed', 400, `DuplicateUrlFailed: the app already has a webhook for ${checked}`);
    if (own.length >= MAX_WEBHOOKS_PER_APP) throw new WebhookRefusal('WebhookLimitExceeded', 400, `WebhookLimitExceeded: an app has at most ${MAX_WEBHOOKS_PER_APP} webhooks`);
    const webhook: WebhookRecord = {
      id: this.ids.next(this.deps.now()), consumerKey, url: checked, valid: false, createdAtMs: this.deps.now(), lastCrcAtMs: null, lastCrcError: null,
    };
    const failure = await this.runCrc(webhook);
    if (failure) throw new WebhookRefusal('CrcValidationFailed', 400, `CrcValidationFailed: ${failure}`);
    webhook.valid = true;
    this.webhooks.set(webhook.id, webhook);
    return webhook;
  }

  /** PUT /2/webhooks/:id and X's periodic re-check: a CRC request now; its outcome is the webhook's validity. */
  async validateWebhook(webhook: WebhookRecord): Promise<boolean> {
    const failure = await this.runCrc(webhook);
    webhook.valid = failure === null;
    return webhook.valid;
  }

  deleteWebhook(consumerKey: string, id: string): boolean {
    if (!this.getWebhook(consumerKey, id)) return false;
    this.webhooks.delete(id);
    for (const sub of this.subscriptions.values()) if (sub.webhookId === id) delete sub.webhookId;
    return true;
  }

  private checkUrl(url: unknown): string {
    if (typeof url !== 'string' || url.length === 0 || url.length > 200 || !URL.canParse(url)) {
      throw new WebhookRefusal('UrlValidationFailed', 400, 'UrlValidationFailed: url must be an absolute URL of at most 200 characters');
    }
    const parsed = new URL(url);
    // Loopback http (and its port) stands in for a public HTTPS address in tests and the sandbox.
    const loopback = LOOPBACK_HOSTS.has(parsed.hostname) && ['http:', 'https:'].includes(parsed.protocol);
    if (!loopback && (parsed.protocol !== 'https:' || parsed.port !== '')) {
      throw new WebhookRefusal('UrlValidationFailed', 400, 'UrlValidationFailed: the webhook URL must be https:// with no port');
    }
    return url;
  }

  /** Null when the URL answered the challenge with the right token within X's 10 s; else why not. */
  private async runCrc(webhook: WebhookRecord): Promise<string | null> {
    webhook.lastCrcAtMs = this.deps.now();
    const failure = await this.crcFailure(webhook);
    webhook.lastCrcError = failure;
    return failure;
  }

  private async crcFailure(webhook: WebhookRecord): Promise<string | null> {
    if (this.takeFault(['crc_fail'])) return 'the CRC check failed (fault crc_fail)';
    const secret = this.deps.consumerSecret(webhook.consumerKey);
    if (secret === undefined) return 'the app is unknown';
    const token = crypto.randomUUID();
    const target = new URL(webhook.url);
    target.searchParams.set('crc_token', token);
    try {
      const res = await fetch(target, { signal: AbortSignal.timeout(CRC_TIMEOUT_MS) });
      const text = await res.text();
      if (res.status !== 200) return `the CRC request to ${webhook.url} answered ${res.status}`;
      let body: { response_token?: unknown };
      try {
        body = JSON.parse(text);
      } catch {
        return `the CRC answer from ${webhook.url} is not JSON`;
      }
      if (body?.response_token !== crcResponseToken(secret, token)) return `the CRC answer from ${webhook.url} has the wrong response_token`;
      return null;
    } catch (error) {
      return `the CRC request to ${webhook.url} failed (${(error as Error).message})`;
    }
  }

  // ---- subscriptions -------------------------------------------------------------------------

  createSubscription(consumerKey: string, input: { eventType: string; userId?: string; tag?: string; webhookId?: string }): SubscriptionRecord {
    if (input.webhookId !== undefined && !this.getWebhook(consumerKey, input.webhookId)) {
      throw new WebhookRefusal('WebhookNotFound', 400, `webhook_id ${input.webhookId} is not a webhook of this app`);
    }
    const own = this.listSubscriptions(consumerKey);
    if (own.some((s) => s.eventType === input.eventType && s.filter.user_id === input.userId && s.webhookId === input.webhookId)) {
      throw new WebhookRefusal('DuplicateSubscription', 409, `DuplicateSubscription: the app already subscribes to ${input.eventType} for user ${input.userId} on this webhook`);
    }
    if (own.length >= MAX_SUBSCRIPTIONS_PER_APP) throw new WebhookRefusal('SubscriptionLimitExceeded', 400, `an app has at most ${MAX_SUBSCRIPTIONS_PER_APP} subscriptions`);
    const now = this.deps.now();
    const sub: SubscriptionRecord = {
      id: this.ids.next(now), consumerKey, eventType: input.eventType, filter: input.userId === undefined ? {} : { user_id: input.userId },
      createdAtMs: now, updatedAtMs: now,
    };
    if (input.tag !== undefined) sub.tag = input.tag;
    if (input.webhookId !== undefined) sub.webhookId = input.webhookId;
    this.subscriptions.set(sub.id, sub);
    return sub;
  }

  listSubscriptions(consumerKey: string): SubscriptionRecord[] {
    return [...this.subscriptions.values()].filter((s) => s.consumerKey === consumerKey);
  }

  deleteSubscription(consumerKey: string, id: string): boolean {
    const sub = this.subscriptions.get(id);
    if (!sub || sub.consumerKey !== consumerKey) return false;
    this.subscriptions.delete(id);
    return true;
  }

  // ---- events and delivery -------------------------------------------------------------------

  /** Called for every new tweet; costs one map check when nobody subscribes. */
  tweetCreated(tweet: EventTweet): void {
    if (this.subscriptions.size === 0) return;
    for (const sub of this.subscriptions.values()) {
      const userId = sub.filter.user_id;
      if (userId === undefined || userId === tweet.authorId) continue;
      let matches = false;
      if (sub.eventType === 'post.reply.create') matches = tweet.inReplyToUserId === userId;
      else if (sub.eventType === 'post.mention.create') {
        const username = this.deps.usernameOf(userId);
        matches = username !== undefined && tweet.mentions.has(username);
      }
      if (matches) this.emit(sub, tweet);
    }
  }

  /** A direct message: `dm.received` for the recipient's subscriptions, in the legacy shape X keeps for it. */
  dmReceived(dm: EventDm): void {
    if (this.subscriptions.size === 0) return;
    for (const sub of this.subscriptions.values()) {
      if (sub.eventType !== 'dm.received' || sub.filter.user_id !== dm.recipientId) continue;
      const messageData: Record<string, unknown> = { text: dm.text, entities: { hashtags: [], symbols: [], user_mentions: [], urls: [] } };
      if (dm.mediaKeys) messageData.attachment = { type: 'media', media: { id_str: dm.mediaKeys[0].replace(/^\d+_/, ''), media_key: dm.mediaKeys[0], type: 'photo' } };
      const users: Record<string, unknown> = {};
      for (const user of [dm.sender, dm.recipient]) users[user.id] = { id: user.id, screen_name: user.username, name: user.name };
      const data: Record<string, unknown> = {
        event_uuid: crypto.randomUUID(),
        filter: { ...sub.filter },
        event_type: sub.eventType,
        payload: {
          for_user_id: dm.recipientId,
          direct_message_events: [{
            type: 'message_create', id: dm.id, created_timestamp: String(dm.createdAtMs),
            message_create: { target: { recipient_id: dm.recipientId }, sender_id: dm.sender.id, message_data: messageData },
          }],
          users,
        },
        includes: {},
      };
      if (sub.tag !== undefined) data.tag = sub.tag;
      const event: StoredEvent = {
        uuid: data.event_uuid as string, webhookId: sub.webhookId, consumerKey: sub.consumerKey, tweetId: dm.id, eventType: sub.eventType,
        createdAtMs: this.deps.now(), body: JSON.stringify({ data }),
      };
      this.keep(event);
      this.dispatch(event);
    }
  }

  private emit(sub: SubscriptionRecord, tweet: EventTweet): void {
    const payload: Record<string, unknown> = {
      id: tweet.id,
      text: tweet.text,
      author_id: tweet.authorId,
      conversation_id: tweet.conversationId,
      created_at: new Date(tweet.createdAtMs).toISOString(),
      edit_history_tweet_ids: [tweet.id],
    };
    if (tweet.inReplyToTweetId !== undefined) {
      payload.in_reply_to_tweet_id = tweet.inReplyToTweetId;
      payload.in_reply_to_user_id = tweet.inReplyToUserId;
      payload.referenced_tweets = [{ type: 'replied_to', id: tweet.inReplyToTweetId }];
    }
    const data: Record<string, unknown> = {
      event_uuid: crypto.randomUUID(),
      filter: { ...sub.filter },
      event_type: sub.eventType,
      payload,
      includes: { users: [{ id: tweet.authorId, username: tweet.authorUsername, name: tweet.authorName }] },
    };
    if (tweet.media?.length) {
      payload.attachments = { media_keys: tweet.media.map((item) => item.mediaKey) };
      (data.includes as Record<string, unknown>).media = tweet.media.map((item) => renderMedia(item, new Set(['url', 'preview_image_url'])));
    }
    if (sub.tag !== undefined) data.tag = sub.tag;
    const event: StoredEvent = {
      uuid: data.event_uuid as string,
      webhookId: sub.webhookId,
      consumerKey: sub.consumerKey,
      tweetId: tweet.id,
      eventType: sub.eventType,
      createdAtMs: this.deps.now(),
      body: JSON.stringify({ data }),
    };
    this.keep(event);
    this.dispatch(event);
  }

  /** X keeps a day of events for replays; older ones are let go as new ones come. */
  private keep(event: StoredEvent): void {
    this.events.push(event);
    const horizon = this.deps.now() - REPLAY_WINDOW_MS;
    while (this.events.length > 0 && this.events[0].createdAtMs < horizon) this.events.shift();
  }

  private dispatch(event: StoredEvent): void {
    const webhook = event.webhookId === undefined ? undefined : this.webhooks.get(event.webhookId);
    if (!webhook || !webhook.valid) {
      this.record(event, null, webhook ? 'not sent: the webhook is invalid' : 'not sent: no webhook', false);
      return;
    }
    const held = this.heldBack;
    const fault = this.takeFault(['lost', 'duplicate', 'out_of_order', 'delay', 'bad_signature']);
    let sending: Promise<void>;
    switch (fault?.kind) {
      case 'lost':
        this.record(event, null, 'lost (fault)', false);
        sending = Promise.resolve();
        break;
      case 'duplicate':
        sending = this.send(webhook, event, false).then(() => this.send(webhook, event, false, 'sent twice (fault)'));
        break;
      case 'delay': {
        const ms = fault.ms ?? 500;
        sending = new Promise((resolve) => setTimeout(resolve, ms)).then(() => this.send(webhook, event, false, `delayed ${ms} ms (fault)`));
        break;
      }
      case 'out_of_order': {
        if (held) this.releaseHeld();
        const timer = setTimeout(() => this.releaseHeld(), fault.ms ?? 1000);
        // Tests waiting for the hub to be idle wait for the held event too.
        this.track(new Promise<void>((released) => { this.heldBack = { event, timer, released }; }));
        return;
      }
      case 'bad_signature':
        sending = this.send(webhook, event, false, 'bad signature (fault)', true);
        break;
      default:
        sending = this.send(webhook, event, false);
    }
    // The next event overtakes the one held back, which follows once it has arrived.
    if (held && this.heldBack === held) sending = sending.then(() => { if (this.heldBack === held) this.releaseHeld(); });
    this.track(sending);
  }

  private releaseHeld(): void {
    const held = this.heldBack;
    if (!held) return;
    this.heldBack = null;
    clearTimeout(held.timer);
    const webhook = held.event.webhookId === undefined ? undefined : this.webhooks.get(held.event.webhookId);
    if (webhook) this.track(this.send(webhook, held.event, false, 'out of order (fault)'));
    held.released();
  }

  private async send(webhook: WebhookRecord, event: StoredEvent, replay: boolean, note: string | null = null, badSignature = false): Promise<void> {
    const secret = this.deps.consumerSecret(webhook.consumerKey) ?? '';
    const signature = signWebhookBody(badSignature ? `${secret}-not` : secret, event.body);
    try {
      const res = await fetch(webhook.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-twitter-webhooks-signature': signature },
        body: event.body,
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
      });
      await res.arrayBuffer();
      this.record(event, res.status, note, replay);
    } catch (error) {
      this.record(event, null, `${note ? note + '; ' : ''}no answer (${(error as Error).message})`, replay);
    }
  }

  private record(event: StoredEvent, status: number | null, note: string | null, replay: boolean): void {
    this.deliveries.push({
      event_uuid: event.uuid, event_type: event.eventType, tweet_id: event.tweetId, webhook_id: event.webhookId ?? null,
      status, note, replay, at: new Date(this.deps.now()).toISOString(),
    });
    if (this.deliveries.length > 10_000) this.deliveries.splice(0, this.deliveries.length - 10_000);
  }

  private track(work: Promise<void>): void {
    const tracked = work.catch(() => undefined).finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  /** POST /2/webhooks/replay: the webhook's events of the window, delivered again in order. */
  replay(consumerKey: string, webhookId: string, fromMs: number, toMs: number): { jobId: string; createdAtMs: number } {
    const webhook = this.getWebhook(consumerKey, webhookId);
    if (!webhook) throw new WebhookRefusal('WebhookNotFound', 404, `no webhook ${webhookId} for this app`);
    const now = this.deps.now();
    if (toMs < fromMs) throw new WebhookRefusal('InvalidReplayWindow', 400, 'to_date must not be before from_date');
    // Minute precision: the minute of "now" itself is still inside the window.
    if (fromMs < now - REPLAY_WINDOW_MS - 60_000) throw new WebhookRefusal('InvalidReplayWindow', 400, 'from_date must be within the last 24 hours');
    if (toMs > now + 60_000) throw new WebhookRefusal('InvalidReplayWindow', 400, 'to_date must not be in the future');
    const chosen = this.events.filter((e) => e.webhookId === webhookId && e.createdAtMs >= fromMs && e.createdAtMs < toMs + 60_000);
    this.track((async () => {
      for (const event of chosen) if (webhook.valid) await this.send(webhook, event, true, 'replay');
    })());
    return { jobId: this.ids.next(now), createdAtMs: now };
  }

  // ---- faults and controls -------------------------------------------------------------------

  addFaults(rules: unknown): void {
    if (!Array.isArray(rules)) throw new EmulatorInputError(400, 'rules must be an array');
    const checked = rules.map((rule: WebhookFaultRule) => {
      if (!rule || typeof rule !== 'object') throw new EmulatorInputError(400, 'each rule must be an object');
      if (!WEBHOOK_FAULT_KINDS.includes(rule.kind)) throw new EmulatorInputError(400, `kind must be one of: ${WEBHOOK_FAULT_KINDS.join(', ')}`);
      if (rule.count !== undefined && (!Number.isInteger(rule.count) || rule.count < 1)) throw new EmulatorInputError(400, 'count must be a positive integer');
      if (rule.ms !== undefined && !(Number.isInteger(rule.ms) && rule.ms >= 0 && rule.ms <= 60_000)) throw new EmulatorInputError(400, 'ms must be a whole number from 0 to 60000');
      return { ...rule };
    });
    for (const rule of checked) this.faults.push({ rule, remaining: rule.count ?? 1 });
  }

  listFaults(): Array<WebhookFaultRule & { remaining: number }> {
    return this.faults.map((f) => ({ ...f.rule, remaining: f.remaining }));
  }

  clearFaults(): void {
    this.faults = [];
  }

  private takeFault(kinds: readonly WebhookFaultKind[]): WebhookFaultRule | undefined {
    const fault = this.faults.find((f) => f.remaining > 0 && kinds.includes(f.rule.kind));
    if (!fault) return undefined;
    fault.remaining -= 1;
    this.faults = this.faults.filter((f) => f.remaining > 0);
    return fault.rule;
  }

  listDeliveries(): DeliveryView[] {
    return [...this.deliveries];
  }

  /** Every webhook of every app, for the control API. */
  allWebhooks(): WebhookRecord[] {
    return [...this.webhooks.values()];
  }

  findWebhook(id: string): WebhookRecord | undefined {
    return this.webhooks.get(id);
  }

  /** Resolves once every delivery under way (held-back and delayed ones included) is done. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  reset(): void {
    this.heldBack?.released();
    if (this.heldBack) clearTimeout(this.heldBack.timer);
    this.heldBack = null;
    this.ids = new SnowflakeGenerator();
    this.webhooks.clear();
    this.subscriptions.clear();
    this.events = [];
    this.faults = [];
    this.deliveries = [];
  }
}
