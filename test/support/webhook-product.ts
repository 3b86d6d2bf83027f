import http from 'node:http';
import net from 'node:net';
import { buildServices, type Services } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/lib/logger';
import { createWebApp } from '../../src/web/create-web-app';
import type { TestEnv } from './test-env';

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** The product's web app on a real port that is also its PUBLIC_URL, so the emulator can deliver webhooks to it. */
export interface Product {
  services: Services;
  url: string;
  port: number;
  logLines: string[];
  close(): Promise<void>;
}

export async function startProduct(world: TestEnv, env: NodeJS.ProcessEnv = {}, port?: number): Promise<Product> {
  const chosen = port ?? await freePort();
  const url = `http://127.0.0.1:${chosen}`;
  const logLines: string[] = [];
  const config = loadConfig({ ...world.env, PORT: String(chosen), PUBLIC_URL: url, LOG_LEVEL: 'debug', ...env });
  const services = await buildServices(config, { logger: createLogger('debug', (line) => logLines.push(line)), migrate: false });
  const server = http.createServer(createWebApp(services));
  await new Promise<void>((resolve) => server.listen(chosen, '127.0.0.1', () => resolve()));
  return {
    services, url, port: chosen, logLines,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await services.close();
    },
  };
}

export async function until<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
