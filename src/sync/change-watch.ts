import Database from 'better-sqlite3';
import type pg from 'pg';
import type { DatabaseConfig } from '../config';
import { RECORDS_CHANNEL } from '../db/dialect';
import { errorMessage } from '../lib/errors';
import type { Logger } from '../lib/logger';

/**
 * How a worker learns that another writer committed new records, without scanning a KB table:
 * the capture trigger has already written each insert into kbts_publications; this only says
 * which integrations got some. Either way a missed change is caught by the publisher's sweep.
 */
export interface ChangeWatch {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface ChangeWatchHandlers {
  /** Integrations that got new records (a hint: publishing reads what is due itself). */
  newRecords(integrationIds: number[]): void;
  /** The watch may have missed changes (it was down): look at everything. */
  missedChanges(): void;
}

export function createChangeWatch(
  database: DatabaseConfig, handlers: ChangeWatchHandlers, logger: Logger, options: { checkEveryMs: number },
): ChangeWatch {
  if (database.client === 'postgres') return new PostgresRecordsListener(database.connection, handlers, logger);
  // An in-memory database has no other writer to watch for.
  if (database.connection === ':memory:') return { start: async () => undefined, stop: async () => undefined };
  return new SqliteDataVersionWatch(database.connection, handlers, logger, options.checkEveryMs);
}

/**
 * SQLite: `PRAGMA data_version` on a read-only connection of its own changes whenever any other
 * connection (another process, or this one's pool) commits. Only then are the publications
 * captured since the last look read, by their primary key: a handful of rows, never the KB table.
 */
class SqliteDataVersionWatch implements ChangeWatch {
  private db: Database.Database | null = null;
  private timer: NodeJS.Timeout | null = null;
  private version = -1;
  private lastPublicationId = 0;
  /** Agents' replies queued by other processes (the reply command) wake their integration's publishing too. */
  private lastAgentReplyId = 0;

  constructor(private readonly file: string, private readonly handlers: ChangeWatchHandlers, private readonly logger: Logger, private readonly everyMs: number) {}

  async start(): Promise<void> {
    const db = new Database(this.file, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 1000');
    this.db = db;
    this.version = Number(db.pragma('data_version', { simple: true }));
    this.lastPublicationId = Number((db.prepare('SELECT COALESCE(MAX(id), 0) AS id FROM kbts_publications').get() as { id: number }).id);
    this.lastAgentReplyId = Number((db.prepare('SELECT COALESCE(MAX(id), 0) AS id FROM kbts_agent_replies').get() as { id: number }).id);
    this.timer = setInterval(() => this.check(), this.everyMs);
    this.timer.unref?.();
  }

  private check(): void {
    if (!this.db) return;
    try {
      const version = Number(this.db.pragma('data_version', { simple: true }));
      if (version === this.version) return;
      this.version = version;
      const rows = this.db.prepare(
        'SELECT integration_id, MAX(id) AS last FROM kbts_publications WHERE id > ? GROUP BY integration_id',
      ).all(this.lastPublicationId) as Array<{ integration_id: number; last: number }>;
      const replies = this.db.prepare(
        'SELECT integration_id, MAX(id) AS last FROM kbts_agent_replies WHERE id > ? GROUP BY integration_id',
      ).all(this.lastAgentReplyId) as Array<{ integration_id: number; last: number }>;
      if (rows.length === 0 && replies.length === 0) return;
      this.lastPublicationId = Math.max(this.lastPublicationId, ...rows.map((row) => Number(row.last)));
      this.lastAgentReplyId = Math.max(this.lastAgentReplyId, ...replies.map((row) => Number(row.last)));
      this.handlers.newRecords([...new Set([...rows, ...replies].map((row) => Number(row.integration_id)))]);
    } catch (error) {
      // A busy or briefly unreadable file: the next check looks again, and the sweep is there.
      this.logger.debug('change check failed', { error: errorMessage(error) });
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.db?.close();
    this.db = null;
  }
}

const RECONNECT_FIRST_MS = 250;
const RECONNECT_MAX_MS = 10_000;

/**
 * PostgreSQL: LISTEN on a connection of its own (not the knex pool, whose connections come and
 * go). When the connection drops, it reconnects with backoff and then asks for a sweep, since
 * notifications sent while it was away are lost.
 */
class PostgresRecordsListener implements ChangeWatch {
  private client: pg.Client | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private delayMs = RECONNECT_FIRST_MS;
  private stopped = false;
  /** Set when the connection was lost or never made: notifications may have been missed. */
  private missed = false;

  constructor(private readonly url: string, private readonly handlers: ChangeWatchHandlers, private readonly logger: Logger) {}

  async start(): Promise<void> {
    await this.connect().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    // Loaded here: a SQLite daemon never needs the driver (about 16 MB of RSS).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Client } = require('pg') as typeof pg;
    const client = new Client({ connectionString: this.url, keepAlive: true, application_name: 'kbts-records-listener' });
    this.client = client;
    let gone = false;
    const lost = (error?: Error) => {
      if (gone) return;
      gone = true;
      this.missed = true;
      if (this.client === client) this.client = null;
      client.removeAllListeners('notification');
      client.end().catch(() => undefined);
      if (!this.stopped) {
        this.logger.warn('records listener lost its connection; reconnecting', { error: error ? errorMessage(error) : 'connection ended' });
        this.reconnectLater();
      }
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (message) => {
      const id = Number(message.payload);
      if (message.channel === RECORDS_CHANNEL && Number.isInteger(id)) this.handlers.newRecords([id]);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${RECORDS_CHANNEL}`);
    } catch (error) {
      lost(error as Error);
      throw error;
    }
    this.delayMs = RECONNECT_FIRST_MS;
    this.logger.info(this.missed ? 'records listener reconnected' : 'records listener started', { channel: RECORDS_CHANNEL });
    // Whatever was committed while no one listened is found by a sweep.
    if (this.missed) this.handlers.missedChanges();
    this.missed = false;
  }

  private reconnectLater(): void {
    if (this.stopped || this.reconnectTimer) return;
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, RECONNECT_MAX_MS);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect().catch(() => undefined);
    }, delay);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const client = this.client;
    this.client = null;
    if (client) {
      client.removeAllListeners();
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
    }
  }
}
