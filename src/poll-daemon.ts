import { buildServices } from './app';
import type { Config } from './config';
import { errorMessage } from './lib/errors';
import { startCreditsProbe } from './sync/credits-probe';
import { startNoRepliesAlerts } from './sync/no-replies-alert';
import { Scheduler, type SchedulerOptions } from './sync/scheduler';

// `poll` loads this and not serve.ts: a worker without the web server leaves express, the web
// routes and the sandbox emulator unloaded (about 12 MB of RSS).

/** Waits for SIGINT/SIGTERM, then stops the parts in reverse order. */
export function onShutdown(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = () => {
    if (stopping) return;
    stopping = true;
    stop().catch(() => undefined).finally(() => process.exit(0));
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
}

/** A daemon watches its database, so records any writer commits are tweeted at once. */
export function schedulerOptions(config: Readonly<Config>): SchedulerOptions {
  return { watch: config.database, changeCheckMs: config.changeCheckMs, publishSweepMs: config.publishSweepMs };
}

/** `poll` without --once: the scheduler alone, for extra worker processes. */
export async function pollForever(config: Readonly<Config>): Promise<void> {
  const services = await buildServices(config);
  const scheduler = new Scheduler(services.sync, config.schedulerRefreshMs, schedulerOptions(config));
  await scheduler.start();
  const alerts = startNoRepliesAlerts(services.noRepliesAlerts);
  const probe = startCreditsProbe(services.costs.probe);
  process.on('unhandledRejection', (error) => services.logger.error('unhandled rejection', { error: errorMessage(error), err: error }));
  onShutdown(async () => {
    alerts.stop();
    probe.stop();
    await scheduler.stop();
    await services.close();
  });
}
