import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildServices } from './app';
import type { Config } from './config';
import { EmulatorState } from './emulator/emulator';
import { errorMessage } from './lib/errors';
import { testAccount } from './setup/account-setup';
import { restoreSandboxUsers } from './setup/sandbox-setup';
import { Scheduler, type SchedulerOptions } from './sync/scheduler';
import { createWebApp } from './web/create-web-app';

/** Waits for SIGINT/SIGTERM, then stops the parts in reverse order. */
function onShutdown(stop: () => Promise<void>): void {
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
function schedulerOptions(config: Readonly<Config>): SchedulerOptions {
  return { watch: config.database, changeCheckMs: config.changeCheckMs, publishSweepMs: config.publishSweepMs };
}

/** `serve`: migrations, then the web app (with the sandbox X API at /sandbox/x) and the scheduler. */
export async function serve(config: Readonly<Config>): Promise<void> {
  const services = await buildServices(config);
  const sandbox = new EmulatorState();
  const scheduler = new Scheduler(services.sync, config.schedulerRefreshMs, schedulerOptions(config));
  const app = createWebApp(services, { scheduler, sandbox });
  const server = http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  // The sandbox forgets everything on a restart; its stored accounts get their users back (the
  // login test then records their new user ids), so they keep working.
  for (const accountId of await restoreSandboxUsers(services, sandbox)) {
    await testAccount(services.accountSetup, accountId).catch((error) =>
      services.logger.warn('restored sandbox account failed its login test', { accountId, error: errorMessage(error) }));
  }
  await scheduler.start();
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  services.logger.info('kb-twitter-sync is serving', { url });
  process.stdout.write(`kb-twitter-sync listening on ${url}\n`);
  process.on('unhandledRejection', (error) => services.logger.error('unhandled rejection', { error: errorMessage(error), err: error }));
  onShutdown(async () => {
    await scheduler.stop();
    await new Promise((resolve) => server.close(resolve));
    await services.close();
  });
}

/** `poll` without --once: the scheduler alone, for extra worker processes. */
export async function pollForever(config: Readonly<Config>): Promise<void> {
  const services = await buildServices(config);
  const scheduler = new Scheduler(services.sync, config.schedulerRefreshMs, schedulerOptions(config));
  await scheduler.start();
  process.on('unhandledRejection', (error) => services.logger.error('unhandled rejection', { error: errorMessage(error), err: error }));
  onShutdown(async () => {
    await scheduler.stop();
    await services.close();
  });
}
