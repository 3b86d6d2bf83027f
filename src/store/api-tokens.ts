import type { Knex } from 'knex';
import type { Role } from './users';

export interface ApiToken {
  id: number;
  userId: number;
  name: string;
  tokenPrefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  /** When the token stops working; null: never. */
  expiresAt: string | null;
}

/** A token with its owner's name, for the admins' list of everyone's tokens. */
export interface ApiTokenWithOwner extends ApiToken {
  username: string;
}

interface ApiTokenRow {
  id: number;
  user_id: number;
  name: string;
  token_prefix: string;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
}

function toApiToken(row: ApiTokenRow): ApiToken {
  return {
    id: row.id, userId: row.user_id, name: row.name, tokenPrefix: row.token_prefix, createdAt: row.created_at, lastUsedAt: row.last_used_at, expiresAt: row.expires_at ?? null,
  };
}

/** The only SQL for kbts_api_tokens; tokens are stored as hashes only. */
export class ApiTokenStore {
  constructor(private readonly db: Knex) {}

  /** This store on another connection, e.g. a transaction: `store.with(trx).method(…)`. */
  with(db: Knex): ApiTokenStore {
    return new ApiTokenStore(db);
  }

  async create(input: { userId: number; name: string; tokenHash: string; tokenPrefix: string; expiresAt?: string | null }, now: string): Promise<number> {
    const [row] = await this.db('kbts_api_tokens').insert({
      user_id: input.userId, name: input.name, token_hash: input.tokenHash, token_prefix: input.tokenPrefix, created_at: now, expires_at: input.expiresAt ?? null,
    }).returning('id');
    return typeof row === 'object' ? row.id : row;
  }

  async listForUser(userId: number): Promise<ApiToken[]> {
    return (await this.db<ApiTokenRow>('kbts_api_tokens').where({ user_id: userId }).orderBy('id')).map(toApiToken);
  }

  /** Every user's tokens, by owner, for admins. */
  async listAll(): Promise<ApiTokenWithOwner[]> {
    const rows = await this.db('kbts_api_tokens as t').join('kbts_users as u', 'u.id', 't.user_id')
      .select('t.*', 'u.username').orderBy([{ column: 'u.username' }, { column: 't.id' }]);
    return rows.map((row: ApiTokenRow & { username: string }) => ({ ...toApiToken(row), username: row.username }));
  }

  /**
   * The token's owner, found by the token's hash; a token past its end is no token. Without
   * `now` expiry is not looked at (kept for callers that check it themselves).
   */
  async findUserByHash(tokenHash: string, now?: string): Promise<{ tokenId: number; userId: number; username: string; role: Role } | undefined> {
    const query = this.db('kbts_api_tokens as t').join('kbts_users as u', 'u.id', 't.user_id').where('t.token_hash', tokenHash);
    if (now !== undefined) query.where((active) => active.whereNull('t.expires_at').orWhere('t.expires_at', '>', now));
    const row = await query.first('t.id', 't.user_id', 'u.username', 'u.role');
    return row ? { tokenId: row.id, userId: row.user_id, username: row.username, role: row.role } : undefined;
  }

  async touch(id: number, now: string): Promise<void> {
    await this.db('kbts_api_tokens').where({ id }).update({ last_used_at: now });
  }

  async remove(userId: number, id: number): Promise<number> {
    return this.db('kbts_api_tokens').where({ id, user_id: userId }).delete();
  }

  /** Any user's token, by an admin; the owner's name is returned for the notice. */
  async removeAny(id: number): Promise<{ name: string; username: string } | undefined> {
    const row = await this.db('kbts_api_tokens as t').join('kbts_users as u', 'u.id', 't.user_id').where('t.id', id).first('t.name', 'u.username');
    if (!row) return undefined;
    await this.db('kbts_api_tokens').where({ id }).delete();
    return { name: row.name, username: row.username };
  }

  /** All of a user's tokens, e.g. when they change their password and ask for it. */
  async removeForUser(userId: number): Promise<number> {
    return this.db('kbts_api_tokens').where({ user_id: userId }).delete();
  }
}
