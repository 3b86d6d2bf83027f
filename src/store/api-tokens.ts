import type { Knex } from 'knex';
import type { Role } from './users';

export interface ApiToken {
  id: number;
  userId: number;
  name: string;
  tokenPrefix: string;
  createdAt: string;
  lastUsedAt: string | null;
}

interface ApiTokenRow {
  id: number;
  user_id: number;
  name: string;
  token_prefix: string;
  created_at: string;
  last_used_at: string | null;
}

function toApiToken(row: ApiTokenRow): ApiToken {
  return { id: row.id, userId: row.user_id, name: row.name, tokenPrefix: row.token_prefix, createdAt: row.created_at, lastUsedAt: row.last_used_at };
}

/** The only SQL for kbts_api_tokens; tokens are stored as hashes only. */
export class ApiTokenStore {
  constructor(private readonly db: Knex) {}

  /** This store on another connection, e.g. a transaction: `store.with(trx).method(…)`. */
  with(db: Knex): ApiTokenStore {
    return new ApiTokenStore(db);
  }

  async create(input: { userId: number; name: string; tokenHash: string; tokenPrefix: string }, now: string): Promise<number> {
    const [row] = await this.db('kbts_api_tokens').insert({
      user_id: input.userId, name: input.name, token_hash: input.tokenHash, token_prefix: input.tokenPrefix, created_at: now,
    }).returning('id');
    return typeof row === 'object' ? row.id : row;
  }

  async listForUser(userId: number): Promise<ApiToken[]> {
    return (await this.db<ApiTokenRow>('kbts_api_tokens').where({ user_id: userId }).orderBy('id')).map(toApiToken);
  }

  /** The token's owner, found by the token's hash. */
  async findUserByHash(tokenHash: string): Promise<{ tokenId: number; userId: number; username: string; role: Role } | undefined> {
    const row = await this.db('kbts_api_tokens as t').join('kbts_users as u', 'u.id', 't.user_id')
      .where('t.token_hash', tokenHash).first('t.id', 't.user_id', 'u.username', 'u.role');
    return row ? { tokenId: row.id, userId: row.user_id, username: row.username, role: row.role } : undefined;
  }

  async touch(id: number, now: string): Promise<void> {
    await this.db('kbts_api_tokens').where({ id }).update({ last_used_at: now });
  }

  async remove(userId: number, id: number): Promise<number> {
    return this.db('kbts_api_tokens').where({ id, user_id: userId }).delete();
  }
}
