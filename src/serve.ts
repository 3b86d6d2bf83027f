import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import express from 'express';
import { buildServices } from './app';
import type { Config } from './config';
import { createXApiEmulator } from './emulator/emulator';
import { errorMessage } from './lib/errors';
import { Scheduler } from './sync/scheduler';

// views/ and public/ sit at the top of the project, from src/ and from dist/src/ alike.
const PROJECT_ROOT = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../..' : '..');

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

/** `serve`: migrations, then the web server (with the sandbox emulator) and the scheduler. */
export async function serve(config: Readonly<Config>): Promise<void> {
  const services = await buildServices(config);
  const app = express();
  app.disable('x-powered-by');
  app.set('view engine', 'ejs');
  app.set('views', path.join(PROJECT_ROOT, 'views'));
  app.use('/static', express.static(path.join(PROJECT_ROOT, 'public')));
  app.get('/', (_request, response) => { response.render('home'); });
  // The sandbox: an X API emulator inside this server, for accounts whose environment is Sandbox.
  app.use('/sandbox/x', createXApiEmulator().router);
  app.get('/healthz', (_request, response) => { response.json({ ok: true }); });
  const server = http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const scheduler = new Scheduler(services.sync, config.schedulerRefreshMs);
  await scheduler.start();
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  services.logger.info('kb-twitter-sync is serving', { url });
  process.stdout.write(`kb-twitter-sync listening on ${url}\n`);
  process.on('unhandledRejection', (error) => services.logger.error('unhandled rejection', { error: errorMessage(error) }));
  onShutdown(async () => {
    await scheduler.stop();
    await new Promise((resolve) => server.close(resolve));
    await services.close();
  });
}

/** `poll` without --once: the scheduler alone, for extra worker processes. */
export async function pollForever(config: Readonly<Config>): Promise<void> {
  const services = await buildServices(config);
  const scheduler = new Scheduler(services.sync, config.schedulerRefreshMs);
  await scheduler.start();
  process.on('unhandledRejection', (error) => services.logger.error('unhandled rejection', { error: errorMessage(error) }));
  onShutdown(async () => {
    await scheduler.stop();
    await services.close();
  });
}
