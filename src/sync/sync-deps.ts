import type { Knex } from 'knex';
import type { Clock } from '../lib/clock';
import type { Logger } from '../lib/logger';
import type { MediaSettings } from '../media/record-media';
import type { Metrics } from '../lib/metrics';
import type { Account, AccountStore } from '../store/accounts';
import type { AccountWebhookStore } from '../store/account-webhooks';
import type { CommunicationStore } from '../store/communications';
import type { IntegrationStore } from '../store/integrations';
import type { LeaseStore } from '../store/leases';
import type { PublicationStore } from '../store/publications';
import type { UnreadableWindowStore } from '../store/unreadable-windows';
import type { XClient } from '../twitter/x-client';
import type { SyncSignals } from './wake';

export interface SyncSettings {
  retryBaseMs: number;
  maxRateLimitWaitMs: number;
  replyOverlapSeconds: number;
  /** A worker's claim on an account lasts this long and is renewed every third of it while working. */
  leaseSeconds: number;
  /** Attempts at one post within a cycle before an unknown outcome is left for the next cycle. */
  maxPostAttemptsPerCycle: number;
  /** Records published per integration per cycle, so one tick stays bounded. */
  publishBatchSize: number;
  /**
   * After an answer from X was lost, how long "not found among the account's posts" still means
   * "maybe not shown yet" rather than "not posted": X shows a new post there only after a delay.
   */
  reconcileGraceSeconds: number;
  /** Where a media field's files are and the cap on their size (absent: ./data/media and 25 MB). */
  media?: MediaSettings;
  /** Accounts this process works at the same time (absent: 50). */
  accountsAtOnce?: number;
}

export interface SyncDeps {
  db: Knex;
  accounts: AccountStore;
  integrations: IntegrationStore;
  publications: PublicationStore;
  communications: CommunicationStore;
  /** Windows of replies X could no longer serve, for people to see. */
  unreadableWindows: UnreadableWindowStore;
  leases: LeaseStore;
  clock: Clock;
  logger: Logger;
  settings: SyncSettings;
  createXClient(account: Account): Promise<XClient>;
  /** Who this process is, for lease rows. */
  workerId: string;
  /** Real-time replies per account: with it on, the mentions read runs as a slower backstop. */
  accountWebhooks?: AccountWebhookStore;
  /** In-process "something changed" signals (src/sync/wake.ts). */
  signals: SyncSignals;
  /** This process's /metrics counters; absent where nobody scrapes (some tests). */
  metrics?: Metrics;
}

export const DEFAULT_SYNC_SETTINGS: Omit<SyncSettings, 'retryBaseMs' | 'maxRateLimitWaitMs' | 'replyOverlapSeconds' | 'leaseSeconds'> = {
  maxPostAttemptsPerCycle: 3,
  publishBatchSize: 1000,
  reconcileGraceSeconds: 120,
};
