import type { Knex } from 'knex';
import { inTransaction } from '../db/database';
import { forUpdateSkipLocked } from '../db/dialect';

/**
 * A lease row names who works on something until when. Taking it is one transaction that only
 * succeeds when the row is free, expired, or already ours — on SQLite and PostgreSQL alike. A
 * row another worker is updating right now is skipped, not waited for.
 */
export class LeaseStore {
  constructor(private readonly db: Knex) {}

  /** This store on another connection, e.g. a transaction: `store.with(trx).method(…)`. */
  with(db: Knex): LeaseStore {
    return new LeaseStore(db);
  }

  async tryAcquire(name: string, holder: string, now: string, expiresAt: string): Promise<boolean> {
    return inTransaction(this.db, async (trx) => {
      const current = await forUpdateSkipLocked(trx, trx('kbts_leases').where({ name }).first());
      if (current) {
        if (current.holder !== holder && current.expires_at >= now) return false;
        await trx('kbts_leases').where({ name }).update({ holder, expires_at: expiresAt });
        return true;
      }
      // No row, or one locked by another worker: the conditional insert tells which.
      const inserted = await trx('kbts_leases').insert({ name, holder, expires_at: expiresAt }).onConflict('name').ignore().returning('name');
      return inserted.length === 1;
    });
  }

  async renew(name: string, holder: string, expiresAt: string): Promise<boolean> {
    const changed = await this.db('kbts_leases').where({ name, holder }).update({ expires_at: expiresAt });
    return changed === 1;
  }

  async release(name: string, holder: string): Promise<void> {
    await this.db('kbts_leases').where({ name, holder }).delete();
  }
}
