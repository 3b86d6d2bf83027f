import type { Clock } from '../lib/clock';
import { toIso } from '../lib/clock';
import { NotFoundError, UserFacingError, ValidationError, errorMessage } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { Account, AccountStore } from '../store/accounts';
import type { AccountWebhook, AccountWebhookStore } from '../store/account-webhooks';
import { DEFAULT_BACKSTOP_MINUTES } from '../store/account-webhooks';
import { crcResponseToken, signatureMatches } from '../twitter/webhook-signature';
import { webhookApiFor, type XWebhookApi, XWebhookRefusedError } from '../twitter/x-webhooks';
import { parseActivityEvent, REPLY_EVENT_TYPES, WebhookIngestion } from './inbound/webhook-events';
import type { SyncDeps } from './sync-deps';
import { channelEventTypes, ChannelWebhookIngestion } from '../channels/channel-work';
import { parseDmReceived } from './inbound/channel-dms';
import { ChannelStore } from '../store/channels';

/** What `account webhook status --json` and the X accounts page show. */
export interface WebhookStatus {
  account_id: number;
  enabled: boolean;
  registered: boolean;
  valid: boolean | null;
  webhook_id: string | null;
  webhook_url: string | null;
  subscriptions: Array<{ id: string; event_type: string }>;
  last_crc_at: string | null;
  last_event_at: string | null;
  events_today: number;
  backstop_minutes: number;
  last_error: string | null;
}

/** The answer to one delivery, for the route to send; `reason` is logged, never sent with secrets. */
export interface DeliveryOutcome {
  status: 200 | 400 | 401 | 404;
  reason: string;
  accepted: boolean;
}

export interface WebhookServiceDeps {
  sync: SyncDeps;
  accounts: AccountStore;
  store: AccountWebhookStore;
  clock: Clock;
  logger: Logger;
  /** The X API the account talks to (the sandbox's for a sandbox account). */
  apiBaseUrlOf(account: Account): string | null;
  /** PUBLIC_URL, for accounts on X itself or a custom server. */
  publicUrl: string | null;
  /** This server's own address, which the sandbox (inside it) delivers to. */
  localUrl: string;
}

interface DeliveryContext {
  account: Account;
  secret: string;
  enabled: boolean;
  /** The account has a mentions channel (active or paused, which holds what comes): its tweets go there too. */
  mentionsChannel: boolean;
  until: number;
}

const DELIVERY_CONTEXT_MS = 2_000;

// After this long without a sign of life, the missed window is asked of X again.
const DOWNTIME_MS = 2 * 60_000;
const REPLAY_REACH_MS = 24 * 60 * 60_000;
// X's crc_token is a UUID or base64 text; anything else (JSON, say) is refused, so the CRC
// answer, which is the same HMAC as a delivery's signature, can never sign a forged event.
const CRC_TOKEN = /^[A-Za-z0-9._~+/=-]{1,512}$/;

/**
 * Real-time replies per account: registering the webhook and the subscriptions with X, answering
 * CRC challenges, checking and accepting deliveries, re-validating, and replaying missed windows.
 */
export class WebhookService {
  readonly ingestion: WebhookIngestion;
  /** Mentions and direct messages for the account's channels (issue 15). */
  readonly channels: ChannelWebhookIngestion;
  private localUrl: string;
  private readonly deliveryContexts = new Map<number, DeliveryContext>();

  constructor(private readonly deps: WebhookServiceDeps) {
    this.ingestion = new WebhookIngestion(deps.sync);
    this.channels = new ChannelWebhookIngestion(deps.sync);
    this.localUrl = deps.localUrl;
  }

  /** `serve` knows its real address only once it listens (PORT=0 picks one). */
  setLocalUrl(url: string): void {
    this.localUrl = url.replace(/\/+$/, '');
  }

  /** Where X delivers the account's events, or null when this server has no address X can reach. */
  callbackUrl(account: Account): string | null {
    const base = account.environment === 'sandbox' ? this.localUrl : this.deps.publicUrl;
    return base ? `${base}/webhooks/x/${account.id}` : null;
  }

  /** The one place the token for webhook calls is chosen (OAuth 1.0a user today). */
  private async apiFor(account: Account): Promise<XWebhookApi> {
    const credentials = await this.deps.accounts.credentialsOf(account.id);
    return webhookApiFor({ kind: 'oauth1-user', credentials }, this.deps.apiBaseUrlOf(account));
  }

  private now(): string {
    return toIso(this.deps.clock.now());
  }

  private async requireAccount(accountId: number): Promise<Account> {
    const account = await this.deps.accounts.get(accountId);
    if (!account) throw new NotFoundError(`account ${accountId} does not exist`);
    return account;
  }

  async status(accountId: number): Promise<WebhookStatus> {
    await this.requireAccount(accountId);
    return this.toStatus(accountId, await this.deps.store.get(accountId));
  }

  private toStatus(accountId: number, row: AccountWebhook | undefined): WebhookStatus {
    const today = this.now().slice(0, 10);
    return {
      account_id: accountId,
      enabled: row?.enabled ?? false,
      registered: Boolean(row?.webhookId),
      valid: row?.valid ?? null,
      webhook_id: row?.webhookId ?? null,
      webhook_url: row?.webhookUrl ?? null,
      subscriptions: (row?.subscriptions ?? []).map((sub) => ({ id: sub.id, event_type: sub.eventType })),
      last_crc_at: row?.lastCrcAt ?? null,
      last_event_at: row?.lastEventAt ?? null,
      events_today: row && row.eventsDay === today ? row.eventsToday : 0,
      backstop_minutes: row?.backstopMinutes ?? DEFAULT_BACKSTOP_MINUTES,
      last_error: row?.lastError ?? null,
    };
  }

  /** Turns real-time replies on: X checks the URL (CRC), then the account is subscribed. */
  async enable(accountId: number, options: { backstopMinutes?: number } = {}): Promise<WebhookStatus> {
    const account = await this.requireAccount(accountId);
    if (!account.xUserId) throw new ValidationError(`account ${accountId} has not passed its login test yet; run it first (account test ${accountId})`);
    const url = this.callbackUrl(account);
    if (!url) {
      throw new ValidationError('real-time replies need PUBLIC_URL: the https:// address at which X can reach this server (set it in the environment and restart serve)');
    }
    if (options.backstopMinutes !== undefined) checkBackstopMinutes(options.backstopMinutes);
    // The row exists before X's CRC request arrives, so the route knows whose secret answers it.
    await this.deps.store.update(accountId, { webhookUrl: url, lastError: null, ...(options.backstopMinutes !== undefined ? { backstopMinutes: options.backstopMinutes } : {}) }, this.now());
    try {
      await this.register(account, url);
    } catch (error) {
      const reason = this.explain(error, url);
      await this.deps.store.update(accountId, { lastError: reason }, this.now());
      throw new UserFacingError('webhook_refused', `real-time replies for account ${accountId} could not be turned on: ${reason}`);
    }
    await this.deps.store.update(accountId, { enabled: true, aliveAt: this.now() }, this.now());
    this.deliveryContexts.delete(accountId);
    this.deps.logger.info('real-time replies on', { accountId, webhookUrl: url });
    return this.status(accountId);
  }

  /** Turns it off: the subscriptions and the webhook are removed at X; the poll reads replies as before. */
  async disable(accountId: number): Promise<WebhookStatus> {
    await this.requireAccount(accountId);
    const row = await this.deps.store.get(accountId);
    let problem: string | null = null;
    if (row && (row.webhookId || row.subscriptions.length > 0)) {
      try {
        const api = await this.apiFor(await this.requireAccount(accountId));
        for (const sub of row.subscriptions) await ignoreNotFound(() => api.unsubscribe(sub.id));
        if (row.webhookId) await ignoreNotFound(() => api.deleteWebhook(row.webhookId as string));
      } catch (error) {
        problem = `turned off here, but X still has the webhook: ${errorMessage(error)}`;
      }
    }
    await this.deps.store.update(accountId, { enabled: false, webhookId: null, webhookUrl: null, valid: null, subscriptions: [], lastError: problem }, this.now());
    this.deliveryContexts.delete(accountId);
    this.deps.logger.info('real-time replies off', { accountId, problem });
    return this.status(accountId);
  }

  /** Idempotent: the webhook exists and is valid at X (created or re-validated), both subscriptions exist. */
  private async register(account: Account, url: string): Promise<void> {
    const api = await this.apiFor(account);
    const hooks = await api.listWebhooks();
    let hook = hooks.find((candidate) => candidate.url === url);
    if (!hook) hook = await api.createWebhook(url);
    else if (!hook.valid) hook = { ...hook, valid: await api.validateWebhook(hook.id) };
    await this.deps.store.update(account.id, { webhookId: hook.id, valid: hook.valid }, this.now());
    if (!hook.valid) throw new Error(`X marks the webhook invalid: its CRC request to ${url} was not answered correctly`);
    const mine = (await api.listSubscriptions()).filter((sub) => sub.userId === account.xUserId && sub.webhookId === hook.id);
    for (const eventType of [...REPLY_EVENT_TYPES, ...await channelEventTypes(this.deps.sync, account.id)]) {
      if (!mine.some((sub) => sub.eventType === eventType)) mine.push(await api.subscribe(eventType, account.xUserId as string, hook.id, `kbts account ${account.id}`));
    }
    await this.deps.store.update(account.id, { subscriptions: mine.map((sub) => ({ id: sub.id, eventType: sub.eventType })) }, this.now());
  }

  private explain(error: unknown, url: string): string {
    if (error instanceof XWebhookRefusedError && error.refusal === 'CrcValidationFailed') {
      return `X could not check ${url} (its CRC request failed): is serve running and reachable at that address? (${error.message})`;
    }
    if (error instanceof XWebhookRefusedError && error.refusal === 'UrlValidationFailed') return `X does not accept ${url} as a webhook address (${error.message})`;
    if (error instanceof XWebhookRefusedError && error.refusal === 'WebhookLimitExceeded') return `the X app has no webhook left (${error.message}); remove one in the X developer console`;
    return errorMessage(error);
  }

  /**
   * The regular check (and the one at start): an enabled account's webhook and subscriptions are
   * put back when X lost or invalidated them (PUT re-runs the CRC).
   */
  async check(accountId: number): Promise<void> {
    const row = await this.deps.store.get(accountId);
    const account = await this.deps.accounts.get(accountId);
    if (!row?.enabled || !account || !row.webhookUrl) return;
    try {
      await this.register(account, row.webhookUrl);
      if (row.lastError) await this.deps.store.update(accountId, { lastError: null }, this.now());
    } catch (error) {
      const reason = this.explain(error, row.webhookUrl);
      await this.deps.store.update(accountId, { lastError: reason }, this.now());
      this.deps.logger.warn('real-time replies check failed; the backstop poll keeps reading replies', { accountId, reason });
    }
  }

  /** After downtime, X is asked to deliver again what it sent while nobody listened (at most 24 h back). */
  async replayMissed(accountId: number): Promise<string | null> {
    const row = await this.deps.store.get(accountId);
    const account = await this.deps.accounts.get(accountId);
    if (!row?.enabled || !row.webhookId || !row.aliveAt || !account) return null;
    const now = this.deps.clock.now().toMillis();
    const since = Date.parse(row.aliveAt);
    if (now - since < DOWNTIME_MS) return null;
    // A minute of overlap (replays are idempotent), within X's reach.
    const from = Math.max(since - 60_000, now - REPLAY_REACH_MS + 60_000);
    try {
      const job = await (await this.apiFor(account)).replay(row.webhookId, from, now);
      this.deps.logger.info('asked X to replay the missed window', { accountId, from: new Date(from).toISOString(), jobId: job });
      return job;
    } catch (error) {
      this.deps.logger.warn('X would not replay the missed window; the backstop poll reads it', { accountId, error: errorMessage(error) });
      return null;
    }
  }

  /** The sandbox registers its accounts' webhooks by itself, unless someone turned the mode off. */
  async ensureSandbox(account: Account): Promise<void> {
    if (account.environment !== 'sandbox' || !account.xUserId) return;
    const row = await this.deps.store.get(account.id);
    // No row: never set up. Off with no URL: turned off on purpose. Off with a URL: an attempt that failed.
    if (row && (row.enabled || row.webhookUrl === null)) return;
    await this.enable(account.id).catch((error) => this.deps.logger.warn('sandbox webhook could not be registered', { accountId: account.id, error: errorMessage(error) }));
  }

  // ---- the route's side --------------------------------------------------------------------

  /** The CRC answer, or null when the account has no webhook to answer for or the token is not X's kind. */
  async answerCrc(accountId: number, token: unknown): Promise<{ response_token: string } | { refused: string }> {
    if (typeof token !== 'string' || !CRC_TOKEN.test(token)) return { refused: 'crc_token is missing or not a token X sends' };
    const row = await this.deps.store.get(accountId);
    if (!row?.webhookUrl || !(await this.deps.accounts.get(accountId))) return { refused: `account ${accountId} has no webhook` };
    const secret = (await this.deps.accounts.credentialsOf(accountId)).apiKeySecret;
    await this.deps.store.update(accountId, { lastCrcAt: this.now(), aliveAt: this.now() }, this.now());
    return { response_token: crcResponseToken(secret, token) };
  }

  /**
   * What a delivery is checked against, kept a moment: X may send hundreds a second (a replay
   * sends as fast as we answer), and the account, its secret and its mode change rarely. A change
   * made here clears it; one made by another process is seen within DELIVERY_CONTEXT_MS.
   */
  private async deliveryContext(accountId: number): Promise<DeliveryContext | null> {
    const now = Date.now();
    const kept = this.deliveryContexts.get(accountId);
    if (kept && kept.until > now) return kept;
    const account = await this.deps.accounts.get(accountId);
    if (!account) return null;
    const context: DeliveryContext = {
      account,
      secret: (await this.deps.accounts.credentialsOf(accountId)).apiKeySecret,
      enabled: Boolean((await this.deps.store.get(accountId))?.enabled),
      mentionsChannel: Boolean(await new ChannelStore(this.deps.sync.db).findForAccount(accountId, 'mentions')),
      until: now + DELIVERY_CONTEXT_MS,
    };
    this.deliveryContexts.set(accountId, context);
    return context;
  }

  /** Signature first (on the raw bytes), then the JSON, then whose event it is; accepted events are queued for ingestion. */
  async receive(accountId: number, raw: Buffer, signature: string | undefined): Promise<DeliveryOutcome> {
    const context = await this.deliveryContext(accountId);
    if (!context) return { status: 404, reason: `no account ${accountId}`, accepted: false };
    if (!signature) return { status: 401, reason: 'no x-twitter-webhooks-signature header', accepted: false };
    if (!signatureMatches(context.secret, raw, signature)) return { status: 401, reason: 'the signature does not match the body', accepted: false };
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return { status: 400, reason: 'the body is not JSON', accepted: false };
    }
    const event = parseActivityEvent(body);
    if ('invalid' in event) return { status: 400, reason: `not an X Activity event: ${event.invalid}`, accepted: false };
    if (!context.enabled) return { status: 200, reason: 'ignored: real-time replies are off for the account', accepted: false };
    const { account } = context;
    if (!account.xUserId || event.userId !== account.xUserId) return { status: 200, reason: `ignored: the event is for user ${event.userId ?? '(none)'}, not the account connected here`, accepted: false };
    if (event.kind === 'other' && event.eventType === 'dm.received') {
      const dms = parseDmReceived((body as { data: { payload?: unknown } }).data.payload);
      if ('invalid' in dms) return { status: 400, reason: `not a dm.received event: ${dms.invalid}`, accepted: false };
      await this.deps.store.countEvents(accountId, 1, this.now());
      this.channels.accept(accountId, { dms });
      return { status: 200, reason: `accepted dm.received ${dms.map((dm) => dm.id).join(', ')}`, accepted: true };
    }
    if (event.kind !== 'post') return { status: 200, reason: `ignored: event type ${event.eventType} is not a reply or mention`, accepted: false };
    // Counted (events today, the last one's time) as the ingestion takes them, one write a batch.
    this.ingestion.accept(accountId, [event.tweet]);
    // Without a mentions channel there is nothing to place: no lease and no transaction for it.
    if (context.mentionsChannel) this.channels.accept(accountId, { tweets: [event.tweet] });
    return { status: 200, reason: `accepted ${event.eventType} ${event.tweet.id}`, accepted: true };
  }

  async listEnabled(): Promise<AccountWebhook[]> {
    return this.deps.store.listEnabled();
  }

  async markAlive(accountIds: number[]): Promise<void> {
    for (const id of accountIds) await this.deps.store.update(id, { aliveAt: this.now() }, this.now());
  }
}

export function checkBackstopMinutes(minutes: number): void {
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > 1440) throw new ValidationError(`the backstop poll interval is a whole number of minutes from 1 to 1440, not ${minutes}`);
}

async function ignoreNotFound(run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    if (!(error instanceof XWebhookRefusedError && error.status === 404)) throw error;
  }
}

const HEARTBEAT_MS = 60_000;
const CHECK_MS = 5 * 60_000;

/**
 * `serve`'s part: replay what was missed while down, check every enabled account's webhook, turn
 * it on for sandbox accounts, then keep a heartbeat (the start of the next replay) and re-check
 * every few minutes.
 */
export function startWebhooks(service: WebhookService, accounts: AccountStore, logger: Logger, localUrl: string): { stop(): Promise<void> } {
  service.setLocalUrl(localUrl);
  const timers: NodeJS.Timeout[] = [];
  const everyEnabled = async (work: (accountId: number) => Promise<unknown>) => {
    for (const row of await service.listEnabled()) await work(row.accountId);
  };
  const started = (async () => {
    await everyEnabled((id) => service.replayMissed(id));
    await everyEnabled((id) => service.check(id));
    await everyEnabled((id) => service.markAlive([id]));
    for (const account of await accounts.list()) await service.ensureSandbox(account);
  })().catch((error) => logger.error('real-time replies could not start', { error: errorMessage(error) }));
  timers.push(setInterval(() => {
    everyEnabled((id) => service.markAlive([id])).catch((error) => logger.warn('webhook heartbeat failed', { error: errorMessage(error) }));
  }, HEARTBEAT_MS));
  timers.push(setInterval(() => {
    everyEnabled((id) => service.check(id)).catch((error) => logger.warn('webhook check failed', { error: errorMessage(error) }));
  }, CHECK_MS));
  for (const timer of timers) timer.unref();
  return {
    async stop() {
      for (const timer of timers) clearInterval(timer);
      await started;
      // What was accepted is written before the process lets go of the database.
      await service.ingestion.idle();
      await service.channels.idle();
    },
  };
}
