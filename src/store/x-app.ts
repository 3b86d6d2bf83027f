import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { SecretBox } from '../lib/secret-box';
import type { AccountEnvironment } from './accounts';

export interface StoredXApp {
  consumerKey: string;
  consumerSecret: string;
  /** Where the app's accounts talk to X (null: api.x.com itself). */
  apiBaseUrl: string | null;
  updatedAt: string;
}

function hashToken(token: string): string {
  return crypto.createHash('sha256').update(token).digest('hex');
}

/** The only SQL for kbts_x_app: one row, the consumer key and secret sealed. */
export class XAppStore {
  constructor(private readonly db: Knex, private readonly box: SecretBox) {}

  async get(): Promise<StoredXApp | null> {
    const row = await this.db('kbts_x_app').where({ id: 1 }).first();
    if (!row) return null;
    return { consumerKey: this.box.open(row.consumer_key_sealed), consumerSecret: this.box.open(row.consumer_secret_sealed), apiBaseUrl: row.api_base_url, updatedAt: row.updated_at };
  }

  async isSet(): Promise<boolean> {
    return Boolean(await this.db('kbts_x_app').where({ id: 1 }).first('id'));
  }

  async save(app: { consumerKey: string; consumerSecret: string; apiBaseUrl: string | null }, now: string): Promise<void> {
    const row = { consumer_key_sealed: this.box.seal(app.consumerKey), consumer_secret_sealed: this.box.seal(app.consumerSecret), api_base_url: app.apiBaseUrl, updated_at: now };
    const updated = await this.db('kbts_x_app').where({ id: 1 }).update(row);
    if (updated === 0) await this.db('kbts_x_app').insert({ id: 1, ...row });
  }
}

export interface PendingConnect {
  tokenSecret: string;
  environment: AccountEnvironment;
  apiBaseUrl: string | null;
  description: string | null;
}

export type TakenConnect = { ok: true; pending: PendingConnect } | { ok: false; reason: 'unknown' | 'other_session' | 'expired' };

/** The only SQL for kbts_oauth_requests: request tokens of connects under way (stored hashed, their secrets sealed). */
export class OAuthRequestStore {
  constructor(private readonly db: Knex, private readonly box: SecretBox) {}

  async add(input: { token: string; tokenSecret: string; sessionIdHash: string; environment: AccountEnvironment; apiBaseUrl: string | null; description: string | null }, now: string, expiresAt: string): Promise<void> {
    // Expired ones are of no use to anyone: cleared as new ones come.
    await this.db('kbts_oauth_requests').where('expires_at', '<', now).delete();
    await this.db('kbts_oauth_requests').insert({
      token_hash: hashToken(input.token),
      token_secret_sealed: this.box.seal(input.tokenSecret),
      session_id_hash: input.sessionIdHash,
      environment: input.environment,
      api_base_url: input.apiBaseUrl,
      description: input.description,
      created_at: now,
      expires_at: expiresAt,
    });
  }

  /**
   * Takes a request token for the session it was issued to; it is deleted as it is taken, so a
   * second callback with it finds nothing. Another session's token is left alone.
   */
  async take(token: string, sessionIdHash: string, now: string): Promise<TakenConnect> {
    const tokenHash = hashToken(token);
    const row = await this.db('kbts_oauth_requests').where({ token_hash: tokenHash }).first();
    if (!row) return { ok: false, reason: 'unknown' };
    if (row.session_id_hash !== sessionIdHash) return { ok: false, reason: 'other_session' };
    // The delete decides: of two callbacks racing with one token, only one deletes the row.
    const deleted = await this.db('kbts_oauth_requests').where({ token_hash: tokenHash, session_id_hash: sessionIdHash }).delete();
    if (deleted !== 1) return { ok: false, reason: 'unknown' };
    if (row.expires_at < now) return { ok: false, reason: 'expired' };
    return { ok: true, pending: { tokenSecret: this.box.open(row.token_secret_sealed), environment: row.environment, apiBaseUrl: row.api_base_url, description: row.description } };
  }
}
