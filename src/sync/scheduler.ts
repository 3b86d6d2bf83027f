import { performance } from 'node:perf_hooks';
import cron, { type ScheduledTask } from 'node-cron';
import { errorMessage } from '../lib/errors';
import type { Integration } from '../store/integrations';
import { runPollCycle, type CycleCounts } from './poll-cycle';
import type { SyncDeps } from './sync-deps';

const TICK_JITTER_MS = 400;

/** Whether the scheduler is started and still reading its task list (wall-clock times). */
export interface SchedulerLiveness {
  running: boolean;
  lastRefreshAt: Date | null;
  refreshEveryMs: number;
}

interface ScheduledIntegration {
  schedule: string;
  timeZone: string;
  task: ScheduledTask;
}

/**
 * One cron task per active integration at its own frequency. node-cron's noOverlap keeps a
 * slow tick from overlapping itself. A tick that fails is logged and rethrown: node-cron catches
 * it, so the next tick still comes, and a "Run now" caller sees the failure.
 * The task list is refreshed from the database, so changes made by the CLI or another process
 * are picked up without a restart.
 */
export class Scheduler {
  private readonly tasks = new Map<number, ScheduledIntegration>();
  private refreshTimer: NodeJS.Timeout | null = null;
  private lastRefresh: Date | null = null;

  // node-cron reports a skipped overlapping run as a warning; here that is the design working.
  private readonly cronLogger = {
    info: (message: string) => this.deps.logger.debug(message),
    warn: (message: string) => this.deps.logger.debug(message),
    debug: (message: string | Error) => this.deps.logger.debug(String(message)),
    error: (message: string | Error) => this.deps.logger.error(String(message)),
  };

  constructor(private readonly deps: SyncDeps, private readonly refreshEveryMs = 30_000) {}

  async start(): Promise<void> {
    await this.refresh();
    this.refreshTimer = setInterval(() => {
      this.refresh().catch((error) => this.deps.logger.error('scheduler refresh failed', { error: errorMessage(error) }));
    }, this.refreshEveryMs);
  }

  async stop(): Promise<void> {
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.refreshTimer = null;
    for (const [id, scheduled] of this.tasks) {
      await scheduled.task.destroy();
      this.tasks.delete(id);
    }
  }

  /** For /healthz: when the task list was last read from the database, and how often it should be. */
  liveness(): SchedulerLiveness {
    return { running: this.refreshTimer !== null, lastRefreshAt: this.lastRefresh, refreshEveryMs: this.refreshEveryMs };
  }

  nextRun(integrationId: number): Date | null {
    return this.tasks.get(integrationId)?.task.getNextRun() ?? null;
  }

  /** Runs one integration's cycle now (the dashboard's "Run now"). */
  async runNow(integrationId: number): Promise<CycleCounts> {
    return this.tick(integrationId);
  }

  async refresh(): Promise<void> {
    const active = (await this.deps.integrations.list()).filter((integration) => integration.status === 'active');
    const wanted = new Map(active.map((integration) => [integration.id, integration]));
    for (const [id, scheduled] of this.tasks) {
      const integration = wanted.get(id);
      if (!integration || integration.schedule !== scheduled.schedule || integration.timeZone !== scheduled.timeZone) {
        await scheduled.task.destroy();
        this.tasks.delete(id);
      }
    }
    for (const integration of active) if (!this.tasks.has(integration.id)) this.schedule(integration);
    this.lastRefresh = new Date();
  }

  private schedule(integration: Integration): void {
    const task = cron.schedule(integration.schedule, () => this.tick(integration.id), {
      name: `integration-${integration.id}`,
      noOverlap: true,
      timezone: integration.timeZone,
      logger: this.cronLogger,
      // Every worker's clock ticks on the same second; a little jitter lets different workers
      // win the account leases, so the work spreads instead of going to the fastest process.
      maxRandomDelay: TICK_JITTER_MS,
    });
    this.tasks.set(integration.id, { schedule: integration.schedule, timeZone: integration.timeZone, task });
  }

  private async tick(integrationId: number): Promise<CycleCounts> {
    const started = performance.now();
    const log = this.deps.logger.child({ integrationId });
    try {
      const counts = await runPollCycle(this.deps, { integrationId });
      // The tick's own cost, for people watching the log and for the benchmark's daemon figures.
      const durationMs = Math.round(performance.now() - started);
      log.info('poll finished', { durationMs, ...counts });
      return counts;
    } catch (error) {
      log.error('poll failed', { error: errorMessage(error), err: error });
      throw error;
    }
  }
}
