import type { Knex } from 'knex';

export type PublicationState = 'pending' | 'sending' | 'sent' | 'failed' | 'skipped';

export interface Publication {
  id: number;
  integrationId: number;
  recordKey: string;
  state: PublicationState;
  reason: string | null;
  tweetId: string | null;
  plannedParts: string[] | null;
  attempts: number;
  attemptStartedAt: string | null;
  nextAttemptAt: string | null;
  sentAt: string | null;
  createdAt: string;
}

interface PublicationRow {
  id: number;
  integration_id: number;
  record_key: string;
  state: PublicationState;
  reason: string | null;
  tweet_id: string | null;
  planned_parts: string | null;
  attempts: number;
  attempt_started_at: string | null;
  next_attempt_at: string | null;
  sent_at: string | null;
  created_at: string;
}

function toPublication(row: PublicationRow): Publication {
  return {
    id: row.id,
    integrationId: row.integration_id,
    recordKey: row.record_key,
    state: row.state,
    reason: row.reason,
    tweetId: row.tweet_id,
    plannedParts: row.planned_parts ? JSON.parse(row.planned_parts) : null,
    attempts: row.attempts,
    attemptStartedAt: row.attempt_started_at,
    nextAttemptAt: row.next_attempt_at,
    sentAt: row.sent_at,
    createdAt: row.created_at,
  };
}

export type StateCounts = Record<PublicationState, number>;

/** The only SQL for kbts_publications, the per-record state machine. */
export class PublicationStore {
  constructor(private readonly db: Knex) {}

  /** Pending records and unknown outcomes ("sending") whose next attempt is due, oldest first. */
  async listDue(integrationId: number, now: string, limit: number): Promise<Publication[]> {
    const rows = await this.db<PublicationRow>('kbts_publications')
      .where({ integration_id: integrationId })
      .whereIn('state', ['pending', 'sending'])
      .where((due) => due.whereNull('next_attempt_at').orWhere('next_attempt_at', '<=', now))
      .orderBy('id')
      .limit(limit);
    return rows.map(toPublication);
  }

  /**
   * A backfill: every record the table holds now becomes pending, exactly as the capture
   * trigger would have made it. Table and key names come from introspection.
   */
  async insertPendingForExisting(db: Knex, integrationId: number, table: string, primaryKey: string, now: string): Promise<number> {
    const count = async () => Number((await db('kbts_publications').where({ integration_id: integrationId }).count({ count: '*' }).first())?.count ?? 0);
    const before = await count();
    // "WHERE true" lets SQLite parse ON CONFLICT after INSERT … SELECT.
    await db.raw(
      `INSERT INTO kbts_publications (integration_id, record_key, state, attempts, created_at)
       SELECT ?, CAST(?? AS TEXT), 'pending', 0, ? FROM ?? WHERE true
       ON CONFLICT (integration_id, record_key) DO NOTHING`,
      [integrationId, primaryKey, now, table],
    );
    return (await count()) - before;
  }

  async get(id: number): Promise<Publication | undefined> {
    const row = await this.db<PublicationRow>('kbts_publications').where({ id }).first();
    return row ? toPublication(row) : undefined;
  }

  async findByRecord(integrationId: number, recordKey: string): Promise<Publication | undefined> {
    const row = await this.db<PublicationRow>('kbts_publications').where({ integration_id: integrationId, record_key: recordKey }).first();
    return row ? toPublication(row) : undefined;
  }

  /**
   * pending → sending, committed before the API call. Conditional on the state read, so two
   * workers can never both own the same attempt.
   */
  async beginAttempt(publication: Publication, parts: string[], now: string): Promise<boolean> {
    const changed = await this.db('kbts_publications')
      .where({ id: publication.id, state: publication.state, attempts: publication.attempts })
      .update({
        state: 'sending',
        attempts: publication.attempts + 1,
        planned_parts: JSON.stringify(parts),
        // The first attempt's start bounds the reconciliation window of every later one.
        attempt_started_at: publication.attemptStartedAt ?? now,
        next_attempt_at: null,
        updated_at: now,
      });
    return changed === 1;
  }

  async markSent(db: Knex, id: number, tweetId: string, now: string): Promise<void> {
    await db('kbts_publications').where({ id }).update({
      state: 'sent', tweet_id: tweetId, sent_at: now, reason: null, next_attempt_at: null, updated_at: now,
    });
  }

  /** A thread's first part is out: the conversation exists even while later parts are still going. */
  async setRootTweet(db: Knex, id: number, tweetId: string, now: string): Promise<void> {
    await db('kbts_publications').where({ id }).update({ tweet_id: tweetId, updated_at: now });
  }

  async markFinal(id: number, state: 'failed' | 'skipped', reason: string, now: string): Promise<void> {
    await this.db('kbts_publications').where({ id }).update({ state, reason, next_attempt_at: null, updated_at: now });
  }

  /** The outcome is unknown: stay in "sending" and reconcile at the next attempt. */
  async deferUnknown(id: number, nextAttemptAt: string, reason: string, now: string): Promise<void> {
    await this.db('kbts_publications').where({ id }).update({ state: 'sending', next_attempt_at: nextAttemptAt, reason, updated_at: now });
  }

  /** X said no before creating anything (429, 401): back to pending, with nothing lost. */
  async returnToPending(id: number, nextAttemptAt: string | null, reason: string, now: string): Promise<void> {
    await this.db('kbts_publications').where({ id }).update({ state: 'pending', next_attempt_at: nextAttemptAt, reason, updated_at: now });
  }

  async findSentByTweetIds(tweetIds: string[]): Promise<Publication[]> {
    const found: Publication[] = [];
    for (let i = 0; i < tweetIds.length; i += 500) {
      const rows = await this.db<PublicationRow>('kbts_publications').whereIn('tweet_id', tweetIds.slice(i, i + 500));
      found.push(...rows.map(toPublication));
    }
    return found;
  }

  async countByState(integrationId?: number): Promise<StateCounts> {
    const query = this.db('kbts_publications').select('state').count({ count: '*' }).groupBy('state');
    if (integrationId !== undefined) query.where({ integration_id: integrationId });
    const counts: StateCounts = { pending: 0, sending: 0, sent: 0, failed: 0, skipped: 0 };
    for (const row of (await query) as Array<{ state: PublicationState; count: number | string }>) counts[row.state] = Number(row.count);
    return counts;
  }

  async listForIntegration(integrationId: number): Promise<Publication[]> {
    return (await this.db<PublicationRow>('kbts_publications').where({ integration_id: integrationId }).orderBy('id')).map(toPublication);
  }

  async removeForIntegration(db: Knex, integrationId: number): Promise<void> {
    await db('kbts_publications').where({ integration_id: integrationId }).delete();
  }
}
