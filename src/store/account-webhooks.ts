import type { Knex } from 'knex';

export interface WebhookSubscription {
  id: string;
  eventType: string;
}

/** An account's real-time replies mode, as this product last knew X's side of it. */
export interface AccountWebhook {
  accountId: number;
  enabled: boolean;
  webhookId: string | null;
  webhookUrl: string | null;
  /** X's verdict at the last CRC check; null when never registered. */
  valid: boolean | null;
  subscriptions: WebhookSubscription[];
  lastCrcAt: string | null;
  lastEventAt: string | null;
  /** The day (UTC, yyyy-mm-dd) `eventsToday` counts. */
  eventsDay: string | null;
  eventsToday: number;
  /** How often the mentions poll runs as a backstop while the mode is on. */
  backstopMinutes: number;
  lastBackstopAt: string | null;
  /** The last moment this server was known to be taking deliveries: after downtime, the replay starts here. */
  aliveAt: string | null;
  lastError: string | null;
}

interface Row {
  account_id: number;
  enabled: boolean | number;
  webhook_id: string | null;
  webhook_url: string | null;
  valid: boolean | number | null;
  subscriptions_json: string | null;
  last_crc_at: string | null;
  last_event_at: string | null;
  events_day: string | null;
  events_today: number;
  backstop_minutes: number;
  last_backstop_at: string | null;
  alive_at: string | null;
  last_error: string | null;
  updated_at: string;
}

export const DEFAULT_BACKSTOP_MINUTES = 15;

function toWebhook(row: Row): AccountWebhook {
  return {
    accountId: row.account_id,
    enabled: Boolean(row.enabled),
    webhookId: row.webhook_id,
    webhookUrl: row.webhook_url,
    valid: row.valid === null ? null : Boolean(row.valid),
    subscriptions: row.subscriptions_json ? JSON.parse(row.subscriptions_json) : [],
    lastCrcAt: row.last_crc_at,
    lastEventAt: row.last_event_at,
    eventsDay: row.events_day,
    eventsToday: row.events_today,
    backstopMinutes: row.backstop_minutes,
    lastBackstopAt: row.last_backstop_at,
    aliveAt: row.alive_at,
    lastError: row.last_error,
  };
}

export type AccountWebhookChange = Partial<Omit<AccountWebhook, 'accountId'>>;

const COLUMNS: Record<keyof AccountWebhookChange, keyof Row> = {
  enabled: 'enabled', webhookId: 'webhook_id', webhookUrl: 'webhook_url', valid: 'valid', subscriptions: 'subscriptions_json',
  lastCrcAt: 'last_crc_at', lastEventAt: 'last_event_at', eventsDay: 'events_day', eventsToday: 'events_today',
  backstopMinutes: 'backstop_minutes', lastBackstopAt: 'last_backstop_at', aliveAt: 'alive_at', lastError: 'last_error',
};

/** The only SQL for kbts_account_webhooks. An account without a row has the mode off. */
export class AccountWebhookStore {
  constructor(private readonly db: Knex) {}

  with(db: Knex): AccountWebhookStore {
    return new AccountWebhookStore(db);
  }

  async get(accountId: number): Promise<AccountWebhook | undefined> {
    const row = await this.db<Row>('kbts_account_webhooks').where({ account_id: accountId }).first();
    return row ? toWebhook(row) : undefined;
  }

  async listEnabled(): Promise<AccountWebhook[]> {
    return (await this.db<Row>('kbts_account_webhooks').where({ enabled: true }).orderBy('account_id')).map(toWebhook);
  }

  /** Writes the fields given, making the row when the account has none. */
  async update(accountId: number, change: AccountWebhookChange, now: string): Promise<void> {
    const values: Record<string, unknown> = { updated_at: now };
    for (const [key, value] of Object.entries(change) as Array<[keyof AccountWebhookChange, unknown]>) {
      values[COLUMNS[key]] = key === 'subscriptions' ? JSON.stringify(value) : value;
    }
    await this.db('kbts_account_webhooks').insert({ account_id: accountId, ...values }).onConflict('account_id').merge(Object.keys(values));
  }

  /** `count` more events today (UTC day), and when the last came. */
  async countEvents(accountId: number, count: number, at: string): Promise<void> {
    const day = at.slice(0, 10);
    await this.db('kbts_account_webhooks').where({ account_id: accountId }).update({
      events_today: this.db.raw('CASE WHEN events_day = ? THEN events_today + ? ELSE ? END', [day, count, count]),
      events_day: day,
      last_event_at: at,
      alive_at: at,
      updated_at: at,
    });
  }
}
