import type { Knex } from 'knex';
import { NotFoundError } from '../lib/errors';
import type { SecretBox } from '../lib/secret-box';
import type { XCredentials } from '../twitter/x-client-factory';

export type AccountEnvironment = 'live' | 'sandbox' | 'custom';

/** Mentions not read yet, as X ids: newer than `sinceId` and older than `untilId`. */
export interface BacklogWindow {
  sinceId: string;
  untilId: string;
}

export interface Account {
  id: number;
  description: string;
  environment: AccountEnvironment;
  apiBaseUrl: string | null;
  screenName: string | null;
  xUserId: string | null;
  lastTestedAt: string | null;
  lastTestError: string | null;
  mentionsCursorId: string | null;
  /** What an earlier poll left of a backlog larger than one read; later polls read it. */
  backlogWindow: BacklogWindow | null;
  rateLimitedUntil: string | null;
  rateLimits: Record<string, { limit: number; remaining: number; reset: number }>;
}

interface AccountRow {
  id: number;
  description: string;
  environment: AccountEnvironment;
  api_base_url: string | null;
  api_key_sealed: string;
  api_key_secret_sealed: string;
  access_token_sealed: string;
  access_token_secret_sealed: string;
  screen_name: string | null;
  x_user_id: string | null;
  last_tested_at: string | null;
  last_test_error: string | null;
  mentions_cursor_id: string | null;
  backlog_since_id: string | null;
  backlog_until_id: string | null;
  rate_limited_until: string | null;
  rate_limits_json: string | null;
}

type SealedCredentials = Pick<AccountRow, 'api_key_sealed' | 'api_key_secret_sealed' | 'access_token_sealed' | 'access_token_secret_sealed'>;

/**
 * The sealed credentials read with each Account, kept beside it rather than in it (an Account is
 * shown and serialised; these never are), so a poll that has just read its account opens them
 * without reading the row again.
 */
const sealedWith = new WeakMap<Account, SealedCredentials>();

function toAccount(row: AccountRow): Account {
  const account = toAccountFields(row);
  sealedWith.set(account, {
    api_key_sealed: row.api_key_sealed, api_key_secret_sealed: row.api_key_secret_sealed,
    access_token_sealed: row.access_token_sealed, access_token_secret_sealed: row.access_token_secret_sealed,
  });
  return account;
}

function toAccountFields(row: AccountRow): Account {
  return {
    id: row.id,
    description: row.description,
    environment: row.environment,
    apiBaseUrl: row.api_base_url,
    screenName: row.screen_name,
    xUserId: row.x_user_id,
    lastTestedAt: row.last_tested_at,
    lastTestError: row.last_test_error,
    mentionsCursorId: row.mentions_cursor_id,
    backlogWindow: row.backlog_since_id && row.backlog_until_id ? { sinceId: row.backlog_since_id, untilId: row.backlog_until_id } : null,
    rateLimitedUntil: row.rate_limited_until,
    rateLimits: row.rate_limits_json ? JSON.parse(row.rate_limits_json) : {},
  };
}

/** The only SQL for kbts_accounts; secrets go in sealed and come out only through credentialsOf. */
export class AccountStore {
  constructor(private readonly db: Knex, private readonly box: SecretBox) {}

  /** This store on another connection, e.g. a transaction: `store.with(trx).method(…)`. */
  with(db: Knex): AccountStore {
    return new AccountStore(db, this.box);
  }

  async create(input: { description: string; environment: AccountEnvironment; apiBaseUrl: string | null; credentials: XCredentials }, now: string): Promise<number> {
    const [row] = await this.db('kbts_accounts').insert({
      description: input.description,
      environment: input.environment,
      api_base_url: input.apiBaseUrl,
      ...this.sealCredentials(input.credentials),
      created_at: now,
      updated_at: now,
    }).returning('id');
    return typeof row === 'object' ? row.id : row;
  }

  async get(id: number): Promise<Account | undefined> {
    const row = await this.db<AccountRow>('kbts_accounts').where({ id }).first();
    return row ? toAccount(row) : undefined;
  }

  async list(): Promise<Account[]> {
    const rows = await this.db<AccountRow>('kbts_accounts').orderBy('id');
    return rows.map(toAccount);
  }

  /** An account's X credentials: read from its row, or given an Account this store read, from what was read with it. */
  async credentialsOf(account: number | Account): Promise<XCredentials> {
    const id = typeof account === 'number' ? account : account.id;
    const row = (typeof account === 'number' ? undefined : sealedWith.get(account)) ?? await this.db<AccountRow>('kbts_accounts').where({ id }).first();
    if (!row) throw new NotFoundError(`account ${id} does not exist`);
    return {
      apiKey: this.box.open(row.api_key_sealed),
      apiKeySecret: this.box.open(row.api_key_secret_sealed),
      accessToken: this.box.open(row.access_token_sealed),
      accessTokenSecret: this.box.open(row.access_token_secret_sealed),
    };
  }

  /** Replaces only the credentials given; a blank one keeps what is stored. */
  async updateCredentials(id: number, credentials: Partial<XCredentials>, now: string): Promise<void> {
    const sealed: Record<string, string> = {};
    const columns: Record<keyof XCredentials, string> = {
      apiKey: 'api_key_sealed', apiKeySecret: 'api_key_secret_sealed',
      accessToken: 'access_token_sealed', accessTokenSecret: 'access_token_secret_sealed',
    };
    for (const [key, column] of Object.entries(columns) as Array<[keyof XCredentials, string]>) {
      if (credentials[key]) sealed[column] = this.box.seal(credentials[key] as string);
    }
    await this.db('kbts_accounts').where({ id }).update({ ...sealed, updated_at: now });
  }

  async updateDetails(id: number, details: { description: string; environment: AccountEnvironment; apiBaseUrl: string | null }, now: string): Promise<void> {
    await this.db('kbts_accounts').where({ id }).update({
      description: details.description, environment: details.environment, api_base_url: details.apiBaseUrl, updated_at: now,
    });
  }

  async recordLoginTest(id: number, result: { screenName: string; xUserId: string } | { error: string }, now: string): Promise<void> {
    const update = 'error' in result
      ? { last_test_error: result.error }
      : { screen_name: result.screenName, x_user_id: result.xUserId, last_test_error: null };
    await this.db('kbts_accounts').where({ id }).update({ ...update, last_tested_at: now, updated_at: now });
  }

  async setMentionsCursor(id: number, cursorId: string): Promise<void> {
    await this.db('kbts_accounts').where({ id }).update({ mentions_cursor_id: cursorId });
  }

  async setBacklogWindow(id: number, window: BacklogWindow | null): Promise<void> {
    await this.db('kbts_accounts').where({ id }).update({ backlog_since_id: window?.sinceId ?? null, backlog_until_id: window?.untilId ?? null });
  }

  async setRateLimitedUntil(id: number, until: string | null): Promise<void> {
    await this.db('kbts_accounts').where({ id }).update({ rate_limited_until: until });
  }

  async saveRateLimits(id: number, limits: Account['rateLimits']): Promise<void> {
    await this.db('kbts_accounts').where({ id }).update({ rate_limits_json: JSON.stringify(limits) });
  }

  async remove(id: number): Promise<void> {
    await this.db('kbts_accounts').where({ id }).delete();
  }

  private sealCredentials(credentials: XCredentials) {
    return {
      api_key_sealed: this.box.seal(credentials.apiKey),
      api_key_secret_sealed: this.box.seal(credentials.apiKeySecret),
      access_token_sealed: this.box.seal(credentials.accessToken),
      access_token_secret_sealed: this.box.seal(credentials.accessTokenSecret),
    };
  }
}
