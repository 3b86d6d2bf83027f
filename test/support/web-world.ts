import http from 'node:http';
import net from 'node:net';
import supertest from 'supertest';
import { buildServices, type Services } from '../../src/app';
import { loadConfig } from '../../src/config';
import { EmulatorState } from '../../src/emulator/emulator';
import { createExampleTable } from '../../src/kb/example-table';
import { DateTime } from 'luxon';
import { systemClock, toIso } from '../../src/lib/clock';
import { createLogger } from '../../src/lib/logger';
import { hashPassword } from '../../src/lib/password';
import { addAccount } from '../../src/setup/account-setup';
import { addIntegration } from '../../src/setup/integration-setup';
import type { Role } from '../../src/store/users';
import { createWebApp } from '../../src/web/create-web-app';
import { stopLivePages } from '../../src/web/live/live-pages';
import type { WebAppOptions } from '../../src/web/create-web-app';
import { TestEnv, type TestDatabase } from './test-env';

export const PASSWORD = 'a long enough password';

export type Agent = ReturnType<typeof supertest.agent>;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** The form's CSRF token from a page's HTML. */
export function csrfFrom(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!match) throw new Error('the page has no CSRF token');
  return match[1];
}

/**
 * One web test world: a real database (from TestEnv: a SQLite file, or a fresh PostgreSQL
 * database), the services, the sandbox emulator state and the web app listening on the port the
 * config names, so sandbox accounts log in over real HTTP. Log lines are kept, so tests can check
 * that secrets never reach them.
 */
export class WebWorld {
  private constructor(
    readonly logLines: string[],
    readonly env: TestEnv,
    readonly services: Services,
    readonly sandbox: EmulatorState,
    readonly server: http.Server,
    readonly url: string,
  ) {}

  /** `sandboxClock`: the product keeps the sandbox emulator's time, so moving that clock (changeClock) moves both. */
  static async create(options: { database?: TestDatabase; web?: (services: Services) => Omit<WebAppOptions, 'sandbox'>; env?: NodeJS.ProcessEnv; sandboxClock?: boolean } = {}): Promise<WebWorld> {
    const env = await TestEnv.create(options.database ?? 'sqlite');
    const port = await freePort();
    const config = loadConfig({ ...env.env, LOG_LEVEL: 'debug', PORT: String(port), ...options.env });
    const logLines: string[] = [];
    const sandbox = new EmulatorState();
    const clock = options.sandboxClock ? { now: () => DateTime.fromMillis(sandbox.clock.now(), { zone: 'utc' }), sleep: systemClock.sleep } : undefined;
    const services = await buildServices(config, { clock, logger: createLogger('debug', (line) => logLines.push(line)) });
    const app = createWebApp(services, { ...options.web?.(services), sandbox });
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
    return new WebWorld(logLines, env, services, sandbox, server, `http://127.0.0.1:${port}`);
  }

  agent(): Agent {
    return supertest.agent(this.server);
  }

  async createUser(username: string, role: Role): Promise<number> {
    return this.services.users.create(username, await hashPassword(PASSWORD), role, toIso(this.services.clock.now()));
  }

  /** A signed-in agent (the user is created when missing). */
  async signIn(username: string, role: Role): Promise<Agent> {
    if (!(await this.services.users.findByUsername(username))) await this.createUser(username, role);
    const agent = this.agent();
    const page = await agent.get('/login');
    const response = await agent.post('/login').type('form').send({ _csrf: csrfFrom(page.text), username, password: PASSWORD });
    if (response.status !== 303) throw new Error(`sign-in of ${username} failed with ${response.status}`);
    return agent;
  }

  /** A form's CSRF token for this agent, read from any page it can open. */
  async csrf(agent: Agent, page = '/me'): Promise<string> {
    return csrfFrom((await agent.get(page)).text);
  }

  /** The example table, a sandbox account and an integration mapping them, made through the services. */
  async withSandboxIntegration(options: { username?: string; continueNullable?: boolean } = {}): Promise<{ accountId: number; integrationId: number; credentials: { apiKey: string; apiKeySecret: string; accessToken: string; accessTokenSecret: string } }> {
    await createExampleTable(this.services.db);
    const created = this.sandbox.createUser({ username: options.username ?? 'kb_web' });
    const credentials = {
      apiKey: created.credentials.api_key,
      apiKeySecret: created.credentials.api_key_secret,
      accessToken: created.credentials.access_token,
      accessTokenSecret: created.credentials.access_token_secret,
    };
    const account = await addAccount(this.services.accountSetup, { description: 'Web test account', environment: 'sandbox', apiBaseUrl: null, credentials });
    const { integration } = await addIntegration(this.services.integrationSetup, {
      accountId: account.id, table: 'articles', tweetField: 'tweet_text', responseField: 'replies', responseMode: 'append', continueField: 'keep_going',
    });
    return { accountId: account.id, integrationId: integration.id, credentials };
  }

  async close(): Promise<void> {
    await stopLivePages(this.services);
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    await this.services.close();
    await this.env.close();
  }
}
