import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ITwitterApiClientPlugin } from 'twitter-api-v2';

/**
 * What /metrics reads from the database at scrape time: the same for every process that serves
 * it, unlike the counters, which each process keeps for the work it did itself.
 */
export interface DatabaseReadings {
  /** Records waiting to be tweeted (pending) or with an attempt open (sending), per integration. */
  queueDepth(): Promise<Array<{ integrationId: number; state: 'pending' | 'sending'; count: number }>>;
  /** Account leases not yet expired, split by whether this process holds them. */
  leaseHolds(): Promise<{ thisProcess: number; otherProcesses: number }>;
  /**
   * Records that reached "sent" after a point (sent time, then id), with the seconds from their
   * capture to their tweet; the histogram observes each once.
   */
  sentSince(after: { sentAt: string; id: number }): Promise<Array<{ id: number; sentAt: string; latencySeconds: number }>>;
}

/** Estimated X cost per account and period, for the cost meter to fill (issue 13 item 2). */
export type CostSource = () => Promise<Array<{ accountId: number; period: 'day' | 'month'; usd: number }>>;

// From a few seconds (tweet on commit) to a day (a paused integration caught up).
const LATENCY_BUCKETS_SECONDS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400];

/** X's error classes (src/twitter/errors.ts) by the status X answered with, as metric labels. */
function errorKind(status: number): string {
  if (status === 429) return 'rate_limited';
  if (status === 401) return 'auth';
  if (status === 402) return 'credits_depleted';
  if (status === 403) return 'forbidden';
  if (status >= 500) return 'server';
  return 'refused';
}

/**
 * The product's Prometheus metrics, in a registry of their own per services instance (never
 * prom-client's global one), so several instances in one process (tests) keep apart. Counting is
 * one call in the place that does the work; gauges that the database knows are read at scrape time.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly posts: Counter<'integration' | 'outcome'>;
  private readonly replies: Counter<'outcome'>;
  private readonly xApiCalls: Counter<'endpoint' | 'status'>;
  private readonly errors: Counter<'kind'>;
  private readonly noRepliesAlert: Gauge<'integration'>;
  private costSource: CostSource | null = null;

  constructor(readings: DatabaseReadings | null, startedAt: string) {
    const registers = [this.registry];
    this.posts = new Counter({ name: 'kbts_posts_total', help: 'Record tweets settled by this process, by integration and outcome (sent, failed, deferred, skipped).', labelNames: ['integration', 'outcome'], registers });
    this.replies = new Counter({ name: 'kbts_replies_ingested_total', help: 'Replies this process ingested: written into their records (applied) or only logged (e.g. the continue field said no).', labelNames: ['outcome'], registers });
    this.xApiCalls = new Counter({ name: 'kbts_x_api_calls_total', help: 'X API requests made by this process, by endpoint and status (2xx, an HTTP status, or network).', labelNames: ['endpoint', 'status'], registers });
    this.errors = new Counter({ name: 'kbts_errors_total', help: 'Errors met by this process, by kind.', labelNames: ['kind'], registers });
    this.noRepliesAlert = new Gauge({ name: 'kbts_no_replies_alert', help: '1 while an integration has had no reply for longer than its alert setting, else 0.', labelNames: ['integration'], registers });
    const source = () => this.costSource;
    new Gauge({
      name: 'kbts_estimated_cost_usd', help: 'Estimated X cost per account for the current UTC day and month (empty until a cost meter fills it).', labelNames: ['account', 'period'], registers,
      async collect() {
        this.reset();
        const read = source();
        for (const row of read ? await read() : []) this.set({ account: String(row.accountId), period: row.period }, row.usd);
      },
    });
    if (!readings) return;
    new Gauge({
      name: 'kbts_queue_depth', help: 'Records waiting to be tweeted (pending) or with an attempt open (sending), per integration; read from the database.', labelNames: ['integration', 'state'], registers,
      async collect() {
        this.reset();
        for (const row of await readings.queueDepth()) this.set({ integration: String(row.integrationId), state: row.state }, row.count);
      },
    });
    new Gauge({
      name: 'kbts_lease_holds', help: 'Account leases not yet expired, held by this process or by others; read from the database.', labelNames: ['held_by'], registers,
      async collect() {
        const holds = await readings.leaseHolds();
        this.set({ held_by: 'this_process' }, holds.thisProcess);
        this.set({ held_by: 'other_processes' }, holds.otherProcesses);
      },
    });
    let after = { sentAt: startedAt, id: 0 };
    new Histogram({
      name: 'kbts_insert_to_tweet_seconds', help: 'Seconds from a record\'s capture to its tweet, for records sent since this process started; read from the database.', buckets: LATENCY_BUCKETS_SECONDS, registers,
      async collect() {
        for (const row of await readings.sentSince(after)) {
          this.observe(Math.max(0, row.latencySeconds));
          after = { sentAt: row.sentAt, id: row.id };
        }
      },
    });
  }

  /** A record's tweet settled (post-once's result). */
  post(integrationId: number, outcome: string): void {
    this.posts.inc({ integration: String(integrationId), outcome });
  }

  /** Counted after their transaction committed. */
  repliesIngested(applied: number, logged: number): void {
    if (applied > 0) this.replies.inc({ outcome: 'applied' }, applied);
    if (logged > 0) this.replies.inc({ outcome: 'logged' }, logged);
  }

  error(kind: string): void {
    this.errors.inc({ kind });
  }

  setNoRepliesAlert(integrationId: number, on: boolean): void {
    this.noRepliesAlert.set({ integration: String(integrationId) }, on ? 1 : 0);
  }

  /** The cost meter's hook: called at each scrape. */
  setCostSource(source: CostSource): void {
    this.costSource = source;
  }

  /** A twitter-api-v2 plugin counting each request by endpoint and status, and X's errors by kind. */
  xApiPlugin(endpointOf: (method: string, url: URL) => string): ITwitterApiClientPlugin {
    return {
      onAfterRequest: ({ url, params }) => { this.xApiCalls.inc({ endpoint: endpointOf(params.method ?? 'GET', url), status: '2xx' }); },
      onResponseError: ({ url, params, error }) => {
        this.xApiCalls.inc({ endpoint: endpointOf(params.method ?? 'GET', url), status: String(error.code) });
        this.error(`x_${errorKind(error.code)}`);
      },
      onRequestError: ({ url, params }) => {
        this.xApiCalls.inc({ endpoint: endpointOf(params.method ?? 'GET', url), status: 'network' });
        this.error('x_network');
      },
    };
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
