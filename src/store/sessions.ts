import type { Knex } from 'knex';
import type { Role } from './users';

export interface SessionWithUser {
  idHash: string;
  userId: number;
  username: string;
  role: Role;
  flash: string | null;
  expiresAt: string;
}

/** The only SQL for kbts_sessions. Sessions are found by the hash of the cookie's token. */
export class SessionStore {
  constructor(private readonly db: Knex) {}

  /** This store on another connection, e.g. a transaction: `store.with(trx).method(…)`. */
  with(db: Knex): SessionStore {
    return new SessionStore(db);
  }

  async create(idHash: string, userId: number, now: string, expiresAt: string): Promise<void> {
    await this.db('kbts_sessions').insert({ id_hash: idHash, user_id: userId, created_at: now, expires_at: expiresAt });
  }

  /** The session and its user, when it exists and has not expired. */
  async findActive(idHash: string, now: string): Promise<SessionWithUser | undefined> {
    const row = await this.db('kbts_sessions as s')
      .join('kbts_users as u', 'u.id', 's.user_id')
      .where('s.id_hash', idHash)
      .where('s.expires_at', '>', now)
      .first('s.id_hash', 's.user_id', 'u.username', 'u.role', 's.flash', 's.expires_at');
    return row ? {
      idHash: row.id_hash, userId: row.user_id, username: row.username, role: row.role, flash: row.flash, expiresAt: row.expires_at,
    } : undefined;
  }

  async extend(idHash: string, expiresAt: string): Promise<void> {
    await this.db('kbts_sessions').where({ id_hash: idHash }).update({ expires_at: expiresAt });
  }

  async setFlash(idHash: string, flash: string | null): Promise<void> {
    await this.db('kbts_sessions').where({ id_hash: idHash }).update({ flash });
  }

  async remove(idHash: string): Promise<void> {
    await this.db('kbts_sessions').where({ id_hash: idHash }).delete();
  }

  /** Signs a user out everywhere, e.g. after a password change or a role change. */
  async removeForUser(userId: number, exceptIdHash?: string): Promise<void> {
    const query = this.db('kbts_sessions').where({ user_id: userId });
    if (exceptIdHash) query.whereNot({ id_hash: exceptIdHash });
    await query.delete();
  }

  async removeExpired(now: string): Promise<number> {
    return this.db('kbts_sessions').where('expires_at', '<=', now).delete();
  }
}
