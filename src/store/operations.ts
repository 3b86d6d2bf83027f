import type { Knex } from 'knex';
import type { DatabaseReadings } from '../lib/metrics';

// One scrape observes at most this many newly sent records; the rest wait for the next scrape.
const SENT_PER_SCRAPE = 10_000;

/** The database's side of /metrics: counts read at scrape time. */
export class OperationsReadings implements DatabaseReadings {
  constructor(private readonly db: Knex, private readonly workerId: string, private readonly now: () => string) {}

  async queueDepth(): Promise<Array<{ integrationId: number; state: 'pending' | 'sending'; count: number }>> {
    const rows: Array<{ integration_id: number; state: string; count: number | string }> = await this.db('kbts_publications')
      .whereIn('state', ['pending', 'sending']).select('integration_id', 'state').count({ count: '*' }).groupBy('integration_id', 'state');
    return rows.map((row) => ({ integrationId: Number(row.integration_id), state: row.state as 'pending' | 'sending', count: Number(row.count) }));
  }

  async leaseHolds(): Promise<{ thisProcess: number; otherProcesses: number }> {
    const rows: Array<{ holder: string; count: number | string }> = await this.db('kbts_leases').where('expires_at', '>=', this.now()).select('holder').count({ count: '*' }).groupBy('holder');
    let thisProcess = 0;
    let otherProcesses = 0;
    for (const row of rows) {
      if (row.holder === this.workerId) thisProcess += Number(row.count);
      else otherProcesses += Number(row.count);
    }
    return { thisProcess, otherProcesses };
  }

  async sentSince(after: { sentAt: string; id: number }): Promise<Array<{ id: number; sentAt: string; latencySeconds: number }>> {
    const rows: Array<{ id: number; sent_at: string; created_at: string }> = await this.db('kbts_publications')
      .where({ state: 'sent' })
      .andWhere((query) => query.where('sent_at', '>', after.sentAt).orWhere((same) => same.where('sent_at', after.sentAt).andWhere('id', '>', after.id)))
      .select('id', 'sent_at', 'created_at').orderBy([{ column: 'sent_at' }, { column: 'id' }]).limit(SENT_PER_SCRAPE);
    return rows.map((row) => ({ id: Number(row.id), sentAt: row.sent_at, latencySeconds: (Date.parse(row.sent_at) - Date.parse(row.created_at)) / 1000 }));
  }
}
