import http from 'node:http';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import { buildServices } from './app';
import type { Config } from './config';
import { errorMessage } from './lib/errors';
import { testAccount } from './setup/account-setup';
import { openKeptSandbox } from './setup/sandbox-setup';
import { onShutdown, schedulerOptions } from './poll-daemon';
import { startNoRepliesAlerts } from './sync/no-replies-alert';
import { startCreditsProbe } from './sync/credits-probe';
import { Scheduler } from './sync/scheduler';
import { startWebhooks } from './sync/webhooks';
import { createWebApp } from './web/create-web-app';
import { stopLivePages } from './web/live/live-pages';

/** `serve`: migrations, then the web app (with the sandbox X API at /sandbox/x) and the scheduler. */
export async function serve(config: Readonly<Config>): Promise<void> {
  const services = await buildServices(config);
  const { sandbox, recreatedAccountIds } = await openKeptSandbox(services);
  const scheduler = new Scheduler(services.sync, config.schedulerRefreshMs, schedulerOptions(config));
  const app = createWebApp(services, { scheduler, sandbox });
  const server = http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  // The sandbox's users and tweets are kept in the database; an account whose user was not kept
  // got a new one, and its login test records the new user id.
  for (const accountId of recreatedAccountIds) {
    await testAccount(services.accountSetup, accountId).catch((error) =>
      services.logger.warn('restored sandbox account failed its login test', { accountId, error: errorMessage(error) }));
  }
  await scheduler.start();
  const alerts = startNoRepliesAlerts(services.noRepliesAlerts);
  const probe = startCreditsProbe(services.costs.probe);
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  const webhooks = startWebhooks(services.webhooks, services.accounts, services.logger, url.replace('//0.0.0.0:', '//127.0.0.1:').replace('//[::]:', '//127.0.0.1:'));
  services.logger.info('kb-twitter-sync is serving', { url });
  process.stdout.write(whereToOpen(config.host, port, os.hostname()));
  process.on('unhandledRejection', (error) => services.logger.error('unhandled rejection', { error: errorMessage(error), err: error }));
  onShutdown(async () => {
    alerts.stop();
    probe.stop();
    await scheduler.stop();
    await webhooks.stop();
    // Open event streams would keep server.close() waiting.
    await stopLivePages(services);
    await new Promise((resolve) => server.close(resolve));
    await services.close();
  });
}

/**
 * What `serve` prints for the person who started it: the address it listens on and the one to
 * open. A wildcard host (0.0.0.0, ::) is no address a browser can open: this machine's loopback
 * is, and the host name from another machine.
 */
export function whereToOpen(host: string, port: number, hostname: string): string {
  const wildcard = host === '' || host === '0.0.0.0' || host === '::';
  const shown = (name: string) => `http://${name.includes(':') ? `[${name}]` : name}:${port}`;
  if (!wildcard) return `kb-twitter-sync listening on ${shown(host)}\nOpen ${shown(host)} in your browser.\n`;
  const local = shown(host === '::' ? '::1' : '127.0.0.1');
  return `kb-twitter-sync listening on ${local} and every other address of this machine (HOST=${host || '(empty)'})\n`
    + `Open ${local} in your browser on this machine, or ${shown(hostname)} from another one.\n`;
}
