import type { Knex } from 'knex';

/**
 * A lease row names who works on something until when. Taking it is one atomic upsert that
 * only succeeds when the row is free, expired, or already ours — on SQLite and PostgreSQL alike.
 */
export class LeaseStore {
  constructor(private readonly db: Knex) {}

  async tryAcquire(name: string, holder: string, now: string, expiresAt: string): Promise<boolean> {
    await this.db('kbts_leases')
      .insert({ name, holder, expires_at: expiresAt })
      .onConflict('name')
      .merge({ holder, expires_at: expiresAt })
      .where('kbts_leases.expires_at', '<', now)
      .orWhere('kbts_leases.holder', holder);
    const row = await this.db('kbts_leases').where({ name }).first();
    return row?.holder === holder;
  }

  async renew(name: string, holder: string, expiresAt: string): Promise<boolean> {
    const changed = await this.db('kbts_leases').where({ name, holder }).update({ expires_at: expiresAt });
    return changed === 1;
  }

  async release(name: string, holder: string): Promise<void> {
    await this.db('kbts_leases').where({ name, holder }).delete();
  }
}
