import crypto from 'node:crypto';
import os from 'node:os';
import type { Config } from './config';
import { createDb, migrateToLatest, type Db } from './db/database';
import { systemClock, toIso, type Clock } from './lib/clock';
import { createLogger, type Logger } from './lib/logger';
import { Metrics } from './lib/metrics';
import { SecretBox } from './lib/secret-box';
import type { AccountSetupDeps } from './setup/account-setup';
import type { IntegrationSetupDeps } from './setup/integration-setup';
import { AccountStore, type Account, type AccountEnvironment } from './store/accounts';
import { AccountWebhookStore } from './store/account-webhooks';
import { ApiTokenStore } from './store/api-tokens';
import { CommunicationStore } from './store/communications';
import { IntegrationStore } from './store/integrations';
import { LeaseStore } from './store/leases';
import { NoRepliesAlertStore } from './store/no-replies-alerts';
import { OperationsReadings } from './store/operations';
import { PublicationStore } from './store/publications';
import { SessionStore } from './store/sessions';
import { UnreadableWindowStore } from './store/unreadable-windows';
import { UserStore } from './store/users';
import { DEFAULT_SYNC_SETTINGS, type SyncDeps } from './sync/sync-deps';
import type { NoRepliesAlertDeps } from './sync/no-replies-alert';
import { WebhookService } from './sync/webhooks';
import { SyncSignals } from './sync/wake';
import { endpointKey, XClient } from './twitter/x-client';
import type { ITwitterApiClientPlugin } from 'twitter-api-v2';
import { XUsageStore } from './store/x-usage';
import { CostMeter } from './sync/cost-meter';
import type { CreditsProbeDeps } from './sync/credits-probe';
import { costMeterPlugin } from './twitter/cost-meter-plugin';
import { resumeIntegration } from './setup/integration-setup';
import type { XCredentials } from './twitter/x-client-factory';

export interface Services {
  config: Readonly<Config>;
  db: Db;
  clock: Clock;
  logger: Logger;
  accounts: AccountStore;
  integrations: IntegrationStore;
  publications: PublicationStore;
  communications: CommunicationStore;
  unreadableWindows: UnreadableWindowStore;
  leases: LeaseStore;
  users: UserStore;
  sessions: SessionStore;
  apiTokens: ApiTokenStore;
  sync: SyncDeps;
  /** In-process signals: the record routes say "records changed" after their insert commits. */
  signals: SyncSignals;
  accountSetup: AccountSetupDeps;
  integrationSetup: IntegrationSetupDeps;
  /** Real-time replies by webhook (X Activity API), per account. */
  webhooks: WebhookService;
  /** This process's Prometheus metrics (its own registry). */
  metrics: Metrics;
  /** The "no replies for N hours" alerts: the daemon checks them, the dashboard shows them. */
  noRepliesAlerts: NoRepliesAlertDeps;
  /** The cost meter (X's billable units per account and day), budgets, and the probe that lifts account holds. */
  costs: { meter: CostMeter; probe: CreditsProbeDeps };
  close(): Promise<void>;
}

/** Where a sandbox account talks to: the emulator mounted inside this product's own server. */
export function sandboxApiBaseUrl(config: Readonly<Config>): string {
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.port}/sandbox/x`;
}

/** The composition root: builds every part from the config and hands each what it needs. */
export async function buildServices(config: Readonly<Config>, options: { clock?: Clock; logger?: Logger; migrate?: boolean } = {}): Promise<Services> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.logLevel);
  const db = createDb(config.database);
  if (options.migrate !== false) {
    // A database that cannot be migrated must not keep the process alive through its open pool.
    await migrateToLatest(db).catch(async (error) => {
      await db.destroy().catch(() => undefined);
      throw error;
    });
  }
  const box = new SecretBox(config.secretKey);
  const accounts = new AccountStore(db, box);
  const integrations = new IntegrationStore(db);
  const publications = new PublicationStore(db);
  const communications = new CommunicationStore(db);
  const unreadableWindows = new UnreadableWindowStore(db);
  const leases = new LeaseStore(db);
  const users = new UserStore(db);
  const sessions = new SessionStore(db);
  const apiTokens = new ApiTokenStore(db);
  const accountWebhooks = new AccountWebhookStore(db);

  const workerId = `${os.hostname()}:${process.pid}:${crypto.randomBytes(4).toString('hex')}`;
  const metrics = new Metrics(new OperationsReadings(db, workerId, () => toIso(clock.now())), toIso(clock.now()));
  const xApiCounting = metrics.xApiPlugin(endpointKey);

  const baseUrlFor = (environment: AccountEnvironment, apiBaseUrl: string | null) =>
    environment === 'sandbox' ? sandboxApiBaseUrl(config) : apiBaseUrl;
  const clientFor = (
    credentials: XCredentials, environment: AccountEnvironment, apiBaseUrl: string | null, meterPlugins: ITwitterApiClientPlugin[] = [], onDone?: () => Promise<void>,
  ) => new XClient({
    credentials,
    apiBaseUrl: baseUrlFor(environment, apiBaseUrl),
    clock,
    retryBaseMs: config.retryBaseMs,
    maxRateLimitWaitMs: config.maxRateLimitWaitMs,
    plugins: [xApiCounting, ...meterPlugins],
    maxPagesPerRead: config.maxPagesPerRead,
    onDone,
  });

  const costMeter = new CostMeter(new XUsageStore(db), config.xPrices, clock, logger);
  metrics.setCostSource(() => costMeter.currentUsd());

  const signals = new SyncSignals();
  const sync: SyncDeps = {
    db, accounts, integrations, publications, communications, unreadableWindows, leases, clock, logger,
    settings: {
      ...DEFAULT_SYNC_SETTINGS,
      retryBaseMs: config.retryBaseMs,
      maxRateLimitWaitMs: config.maxRateLimitWaitMs,
      replyOverlapSeconds: config.replyOverlapSeconds,
      leaseSeconds: config.leaseSeconds,
      reconcileGraceSeconds: config.reconcileGraceSeconds,
      media: config.media,
      accountsAtOnce: config.accountsAtOnce,
    },
    // Every call of an account's client is metered (and stopped at its budget) by one plugin.
    createXClient: async (account: Account) => {
      const meter = await costMeter.forAccount(account);
      return clientFor(await accounts.credentialsOf(account), account.environment, account.apiBaseUrl, [costMeterPlugin(meter, account.xUserId)], meter.flush);
    },
    workerId,
    accountWebhooks,
    signals,
    metrics,
  };
  const webhooks = new WebhookService({
    sync, accounts, store: accountWebhooks, clock, logger,
    apiBaseUrlOf: (account) => baseUrlFor(account.environment, account.apiBaseUrl),
    publicUrl: config.publicUrl,
    localUrl: sandboxApiBaseUrl(config).replace(/\/sandbox\/x$/, ''),
  });

  const integrationSetup: IntegrationSetupDeps = { db, accounts, integrations, publications, communications, clock };
  const creditsProbe: CreditsProbeDeps = {
    meter: costMeter, accounts, integrations, clock, logger, probeEveryMs: config.creditsProbeSeconds * 1000,
    createXClient: sync.createXClient, resume: (integrationId) => resumeIntegration(integrationSetup, integrationId),
  };

  return {
    config, db, clock, logger, accounts, integrations, publications, communications, unreadableWindows, leases, users, sessions, apiTokens, sync, signals,
    accountSetup: { accounts, clock, clientFor },
    integrationSetup,
    costs: { meter: costMeter, probe: creditsProbe },
    webhooks,
    metrics,
    noRepliesAlerts: { integrations, accounts, clock, logger, metrics, alerts: new NoRepliesAlertStore(db), webhookUrl: config.alertWebhookUrl },
    close: async () => {
      await webhooks.ingestion.stop();
      await webhooks.channels.idle();
      await costMeter.flush();
      await db.destroy();
    },
  };
}
