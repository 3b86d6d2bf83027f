import type { Knex } from 'knex';
import { runEachRowOnSqlite } from '../db/bulk-insert';
import { inTransaction } from '../db/database';
import { forUpdateSkipLocked, isPostgres } from '../db/dialect';

// Free, expired, or already ours: taken (one row changed); held by another: no row changed.
const ACQUIRE_ON_SQLITE = 'INSERT INTO kbts_leases (name, holder, expires_at) VALUES (?, ?, ?) '
  + 'ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at '
  + 'WHERE kbts_leases.holder = ? OR kbts_leases.expires_at < ?';

/**
 * A lease row names who works on something until when. Taking it only succeeds when the row is
 * free, expired, or already ours: one conditional statement on SQLite, one transaction on
 * PostgreSQL, where a row another worker is updating right now is skipped, not waited for.
 */
export class LeaseStore {
  constructor(private readonly db: Knex) {}

  /** This store on another connection, e.g. a transaction: `store.with(trx).method(…)`. */
  with(db: Knex): LeaseStore {
    return new LeaseStore(db);
  }

  async tryAcquire(name: string, holder: string, now: string, expiresAt: string): Promise<boolean> {
    // SQLite has one writer at a time, so one conditional upsert is the whole step: a thousand
    // accounts polled a minute on one worker paid for four statements and a transaction each.
    if (!isPostgres(this.db)) {
      const [changed] = await runEachRowOnSqlite(this.db, ACQUIRE_ON_SQLITE, [[name, holder, expiresAt, holder, now]]);
      return changed === 1;
    }
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
