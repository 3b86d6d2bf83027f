import cron, { type ScheduledTask } from 'node-cron';
import type { DatabaseConfig } from '../config';
import { toIso } from '../lib/clock';
import { errorMessage } from '../lib/errors';
import { AgentReplyStore } from '../store/agent-replies';
import { ChannelStore } from '../store/channels';
import type { Integration } from '../store/integrations';
import { AccountWorkQueue } from './account-work';
import { createChangeWatch, type ChangeWatch } from './change-watch';
import { emptyCounts, type CycleCounts } from './poll-cycle';
import { channelOnlyAccounts } from '../channels/channel-work';
import type { SyncDeps } from './sync-deps';

const TICK_JITTER_MS = 400;
// Every worker hears of another writer's commit at once; a little jitter spreads the accounts'
// leases among them instead of handing every account to the worker that is told first.
const WAKE_JITTER_MS = 60;
const PUBLISH = { publish: true, collect: false };
const COLLECT = { publish: false, collect: true };

export interface SchedulerOptions {
  /** The database to watch for records other processes commit; without it, only this process's signals and the sweep. */
  watch?: DatabaseConfig;
  /** SQLite: how often PRAGMA data_version is checked. */
  changeCheckMs?: number;
  /** How often every account's due records are looked for, whatever the wake-ups said. */
  publishSweepMs?: number;
}

/** Whether the scheduler is started and still reading its task list (wall-clock times). */
export interface SchedulerLiveness {
  running: boolean;
  lastRefreshAt: Date | null;
  refreshEveryMs: number;
}

/** The integrations polled on one schedule in one time zone, and the one cron task that fires for all of them. */
interface ScheduleGroup {
  task: ScheduledTask;
  integrationIds: Set<number>;
}

const groupKey = (integration: Pick<Integration, 'schedule' | 'timeZone'>) => `${integration.timeZone} ${integration.schedule}`;

/**
 * When work happens. Publishing is event-driven: a record is tweeted as soon as its insert is
 * known to have committed, told by this process's record routes (SyncSignals), by a watch on the
 * database for other writers (PRAGMA data_version on SQLite, LISTEN/NOTIFY on PostgreSQL), and
 * by a sweep every 30 s as the backstop. Reply collection runs at each integration's polling
 * frequency, on one cron task per schedule and time zone: a thousand integrations polled every
 * minute are one timer, not a thousand that each wake every second. An integration's tick is
 * skipped while its last one still runs. Both go through one queue per account
 * (account-work.ts), under the account's lease.
 * The task list is refreshed from the database, so changes made by the CLI or another process
 * are picked up without a restart.
 */
// An account with channels and no integration has no reply schedule of its own: its channels are read every minute.
const CHANNEL_ONLY_SCHEDULE = '* * * * *';

export class Scheduler {
  /** By schedule and time zone. */
  private readonly groups = new Map<string, ScheduleGroup>();
  /** Integrations whose reply poll is asked for and not yet answered: their next tick is skipped. */
  private readonly ticking = new Set<number>();
  /** The minute task that reads the channels of the accounts whose only work is their channels. */
  private channelTask: ScheduledTask | null = null;
  private readonly channelsReading = new Set<number>();
  private channelOnly: number[] = [];
  private readonly queue: AccountWorkQueue;
  /** Active integrations by id, for turning "integration N got records" into its account. */
  private active = new Map<number, Integration>();
  private refreshTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private watch: ChangeWatch | null = null;
  private unsubscribe: (() => void) | null = null;
  private lastRefresh: Date | null = null;

  // node-cron reports a skipped overlapping run as a warning; here that is the design working.
  private readonly cronLogger = {
    info: (message: string) => this.deps.logger.debug(message),
    warn: (message: string) => this.deps.logger.debug(message),
    debug: (message: string | Error) => this.deps.logger.debug(String(message)),
    error: (message: string | Error) => this.deps.logger.error(String(message)),
  };

  constructor(private readonly deps: SyncDeps, private readonly refreshEveryMs = 30_000, private readonly options: SchedulerOptions = {}) {
    this.queue = new AccountWorkQueue(deps);
  }

  async start(): Promise<void> {
    await this.refresh();
    this.refreshTimer = setInterval(() => {
      this.refresh().catch((error) => this.deps.logger.error('scheduler refresh failed', { error: errorMessage(error) }));
    }, this.refreshEveryMs);
    this.unsubscribe = this.deps.signals.on('recordsChanged', (table) => {
      this.wakeIntegrations([...this.active.values()].filter((integration) => integration.tableName === table).map((integration) => integration.id), 0);
    });
    if (this.options.watch) {
      this.watch = createChangeWatch(this.options.watch, {
        newRecords: (integrationIds) => this.wakeIntegrations(integrationIds, WAKE_JITTER_MS),
        missedChanges: () => { void this.sweep(); },
      }, this.deps.logger, { checkEveryMs: this.options.changeCheckMs ?? 250 });
      await this.watch.start();
    }
    // What was captured while no daemon ran goes out now, before the scheduler says it started.
    await this.sweep();
    this.sweepTimer = setInterval(() => { void this.sweep(); }, this.options.publishSweepMs ?? 30_000);
    this.deps.logger.info('scheduler started', {
      integrations: this.active.size,
      watching: this.options.watch ? (this.options.watch.client === 'postgres' ? 'LISTEN kbts_records' : 'PRAGMA data_version') : 'this process only',
    });
  }

  async stop(): Promise<void> {
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.refreshTimer = null;
    this.sweepTimer = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
    await this.watch?.stop();
    this.watch = null;
    for (const [key, group] of this.groups) {
      await group.task.destroy();
      this.groups.delete(key);
    }
    await this.channelTask?.destroy();
    this.channelTask = null;
    await this.queue.stop();
  }

  /**
   * The backstop of the wake-ups: every account with records or agent replies due now publishes,
   * and every account with a channel sends its due messages. The database says which accounts
   * have due work, so a sweep over a thousand idle accounts is a few statements, not a run (a
   * lease, reads, a release) for each of them every 30 seconds.
   */
  private async sweep(): Promise<void> {
    try {
      const integrations = [...this.active.values()];
      const ids = integrations.map((integration) => integration.id);
      const now = toIso(this.deps.clock.now());
      const due = new Set([
        ...await this.deps.publications.integrationsWithDue(ids, now),
        ...await new AgentReplyStore(this.deps.db).integrationsWithDue(ids, now),
      ]);
      // Channel-only accounts were found by the last refresh; the others' channels are looked up here.
      const withIntegrations = new Set(integrations.map((integration) => integration.accountId));
      const withChannels = (await new ChannelStore(this.deps.db).list())
        .filter((channel) => channel.status === 'active' && withIntegrations.has(channel.accountId)).map((channel) => channel.accountId);
      const withDueWork = integrations.filter((integration) => due.has(integration.id)).map((integration) => integration.accountId);
      const accountIds = new Set([...withDueWork, ...withChannels, ...this.channelOnly]);
      await Promise.all([...accountIds].map((accountId) => this.queue.request(accountId, PUBLISH)));
    } catch (error) {
      // The database failing: the next sweep (or a wake-up) tries again.
      this.deps.logger.error('publish sweep failed', { error: errorMessage(error) });
    }
  }

  /** Publishing for the named integrations, on their accounts; `jitterMs` when every worker heard the same news. */
  private wakeIntegrations(integrationIds: number[], jitterMs: number): void {
    const unknown = integrationIds.filter((id) => !this.active.has(id));
    const wake = (ids: number[]) => {
      const byAccount = new Map<number, Set<number>>();
      for (const id of ids) {
        const integration = this.active.get(id);
        if (integration) byAccount.set(integration.accountId, (byAccount.get(integration.accountId) ?? new Set()).add(id));
      }
      for (const [accountId, publishOnly] of byAccount) this.queue.wake(accountId, { ...PUBLISH, publishOnly }, { jitterMs });
    };
    wake(integrationIds);
    // An integration made moments ago by another process: learn about it first.
    if (unknown.length > 0) {
      this.refresh().then(() => wake(unknown), (error) => this.deps.logger.error('scheduler refresh failed', { error: errorMessage(error) }));
    }
  }

  /** For /healthz: when the task list was last read from the database, and how often it should be. */
  liveness(): SchedulerLiveness {
    return { running: this.refreshTimer !== null, lastRefreshAt: this.lastRefresh, refreshEveryMs: this.refreshEveryMs };
  }

  nextRun(integrationId: number): Date | null {
    const integration = this.active.get(integrationId);
    const group = integration && this.groups.get(groupKey(integration));
    return group?.integrationIds.has(integrationId) ? group.task.getNextRun() : null;
  }

  /** Runs one integration's account now, publishing and collecting (the dashboard's "Run now"). */
  async runNow(integrationId: number): Promise<CycleCounts> {
    const integration = await this.deps.integrations.get(integrationId);
    if (!integration || integration.status !== 'active') return emptyCounts();
    return this.queue.request(integration.accountId, { publish: true, collect: true });
  }

  async refresh(): Promise<void> {
    const active = (await this.deps.integrations.list()).filter((integration) => integration.status === 'active');
    const wanted = new Map(active.map((integration) => [integration.id, integration]));
    const before = this.active;
    this.active = wanted;
    // An integration made or resumed elsewhere may have records waiting: they go out now, not at the sweep.
    if (this.sweepTimer) this.wakeIntegrations(active.filter((integration) => !before.has(integration.id)).map((integration) => integration.id), 0);
    const wantedGroups = new Map<string, Integration[]>();
    for (const integration of active) wantedGroups.set(groupKey(integration), [...(wantedGroups.get(groupKey(integration)) ?? []), integration]);
    for (const [key, group] of this.groups) {
      if (wantedGroups.has(key)) continue;
      await group.task.destroy();
      this.groups.delete(key);
    }
    for (const [key, integrations] of wantedGroups) {
      const ids = new Set(integrations.map((integration) => integration.id));
      const group = this.groups.get(key);
      if (group) group.integrationIds = ids;
      else this.groups.set(key, this.scheduleGroup(integrations[0], ids));
    }
    this.channelOnly = await channelOnlyAccounts(this.deps);
    if (this.channelOnly.length > 0 && !this.channelTask) {
      this.channelTask = cron.schedule(CHANNEL_ONLY_SCHEDULE, () => this.readChannels(), { name: 'channel-only-accounts', logger: this.cronLogger });
    } else if (this.channelOnly.length === 0 && this.channelTask) {
      await this.channelTask.destroy();
      this.channelTask = null;
    }
    this.lastRefresh = new Date();
  }

  private scheduleGroup(first: Integration, integrationIds: Set<number>): ScheduleGroup {
    const key = groupKey(first);
    const task = cron.schedule(first.schedule, () => {
      for (const integrationId of this.groups.get(key)?.integrationIds ?? []) this.tick(integrationId);
    }, { name: `schedule ${key}`, timezone: first.timeZone, logger: this.cronLogger });
    return { task, integrationIds };
  }

  /**
   * A reply poll: the account's replies for all its integrations; its publishing needs no tick.
   * Skipped while the integration's last poll is still asked for. Every worker's clock ticks on
   * the same second; a little jitter lets different workers win the account leases, so the work
   * spreads instead of going to the fastest process.
   */
  private tick(integrationId: number): void {
    const integration = this.active.get(integrationId);
    if (!integration || this.ticking.has(integrationId)) return;
    this.ticking.add(integrationId);
    void this.queue.request(integration.accountId, COLLECT, { jitterMs: TICK_JITTER_MS }).finally(() => this.ticking.delete(integrationId));
  }

  /** The minute's read of each channel-only account's mentions and DMs, skipped for an account whose last read still runs. */
  private readChannels(): void {
    for (const accountId of this.channelOnly) {
      if (this.channelsReading.has(accountId)) continue;
      this.channelsReading.add(accountId);
      void this.queue.request(accountId, COLLECT, { jitterMs: TICK_JITTER_MS }).finally(() => this.channelsReading.delete(accountId));
    }
  }
}
