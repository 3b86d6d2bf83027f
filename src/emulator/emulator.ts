import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createControlRouter } from './control-routes';
import { createAppControlRouter, createOAuthFlowRouter } from './oauth-flow';
import { EmulatorState, type EmulatorOptions } from './state';
import { createXApiRouter } from './x-api-routes';

export type {
  AccessLevel,
  CallCounts,
  ControlTweet,
  CreatedUser,
  CreateUserInput,
  EmulatorOptions,
  EndpointKey,
  FaultKind,
  FaultRule,
  PostAsInput,
  RateLimitSetting,
  TimelineView,
  UserSummary,
} from './state';
export { DEFAULT_RATE_LIMITS, EmulatorInputError, EmulatorState, ENDPOINT_KEYS, FAULT_KINDS } from './state';
export { snowflakeAt, snowflakeTime } from './snowflake';

/**
 * The X API emulator as an Express router: /2/... (OAuth 1.0a, X's shapes) and /_emulator/...
 * (controls), relative to wherever it is mounted.
 */
export function createXApiEmulator(options: EmulatorOptions = {}): { router: express.Router; state: EmulatorState } {
  const state = new EmulatorState(options);
  const router = express.Router();
  router.use('/_emulator', createAppControlRouter(state));
  router.use('/_emulator', createControlRouter(state));
  router.use(createOAuthFlowRouter(state));
  router.use(createXApiRouter(state));
  return { router, state };
}

export interface StartedEmulator {
  url: string;
  state: EmulatorState;
  close(): Promise<void>;
}

/** Runs the emulator on its own HTTP server (loopback by default; port 0 picks a free port). */
export async function startEmulator(opts: { port?: number; host?: string } & EmulatorOptions = {}): Promise<StartedEmulator> {
  const host = opts.host ?? '127.0.0.1';
  const { router, state } = createXApiEmulator(opts);
  const app = express();
  app.disable('x-powered-by');
  app.use(router);
  app.use((_req: express.Request, res: express.Response) => {
    res.status(404).json({ error: 'not found' });
  });

  const server = http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}`,
    state,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Keep-alive sockets would hold close() open until they time out.
        server.closeAllConnections();
      }),
  };
}
