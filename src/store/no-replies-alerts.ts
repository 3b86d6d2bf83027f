import type { Knex } from 'knex';

export interface NoRepliesAlert {
  integrationId: number;
  hours: number;
  lastReplyAt: string | null;
  raisedAt: string;
}

interface AlertRow {
  integration_id: number;
  hours: number;
  last_reply_at: string | null;
  raised_at: string;
}

const toAlert = (row: AlertRow): NoRepliesAlert => ({
  integrationId: Number(row.integration_id), hours: Number(row.hours), lastReplyAt: row.last_reply_at, raisedAt: row.raised_at,
});

/** The only SQL for kbts_no_replies_alerts: a row per integration while its alert is raised. */
export class NoRepliesAlertStore {
  constructor(private readonly db: Knex) {}

  /** When each integration's last reply arrived (absent: none ever did). */
  async lastReplyAt(integrationIds: number[]): Promise<Map<number, string>> {
    if (integrationIds.length === 0) return new Map();
    const rows: Array<{ integration_id: number; last: string | null }> = await this.db('kbts_communications')
      .where({ direction: 'in' }).whereIn('integration_id', integrationIds)
      .select('integration_id').max({ last: 'recorded_at' }).groupBy('integration_id');
    return new Map(rows.filter((row) => row.last).map((row) => [Number(row.integration_id), row.last as string]));
  }

  /** Raises the alert; true only for the caller that raised it (once per episode, whichever process). */
  async raise(alert: NoRepliesAlert): Promise<boolean> {
    const inserted = await this.db('kbts_no_replies_alerts')
      .insert({ integration_id: alert.integrationId, hours: alert.hours, last_reply_at: alert.lastReplyAt, raised_at: alert.raisedAt })
      .onConflict('integration_id').ignore().returning('integration_id');
    return inserted.length === 1;
  }

  /** Ends the episode; true only for the caller that ended it. */
  async clear(integrationId: number): Promise<boolean> {
    return (await this.db('kbts_no_replies_alerts').where({ integration_id: integrationId }).delete()) === 1;
  }

  async list(): Promise<NoRepliesAlert[]> {
    return (await this.db<AlertRow>('kbts_no_replies_alerts').orderBy('integration_id')).map(toAlert);
  }
}
