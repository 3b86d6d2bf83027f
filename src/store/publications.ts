import type { Knex } from 'knex';
import { runEachRowOnSqlite } from '../db/bulk-insert';
import { isPostgres, whereInList } from '../db/dialect';

/** A record's states for one integration, in the order people read them. */
export const PUBLICATION_STATES = ['pending', 'sending', 'sent', 'failed', 'skipped'] as const;
export type PublicationState = (typeof PUBLICATION_STATES)[number];

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
  /** When the row last changed: for a record left "sending", the latest moment its unknown attempt may have posted. */
  updatedAt: string;
}

/** A tweeted record as the start of a conversation its replies are matched to. */
export type ConversationStart = Pick<Publication, 'id' | 'integrationId' | 'recordKey'> & { tweetId: string };

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
  updated_at: string;
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
    updatedAt: row.updated_at,
  };
}

export type StateCounts = Record<PublicationState, number>;

// Rows changed by one statement in the batch methods: a few bound parameters each.
const BY_ID_CHUNK = 100;

/** `CASE id WHEN … THEN … END`: a value per row, in one statement. */
function byId(db: Knex, values: Array<[number, string]>): Knex.Raw {
  return db.raw(`CASE id ${values.map(() => 'WHEN ? THEN ?').join(' ')} END`, values.flat());
}

// The same two writes as one statement per row on SQLite (see runEachRowOnSqlite); PostgreSQL
// takes a batch in one statement, a round trip saved per row.
const BEGIN_ATTEMPT_ON_SQLITE = `UPDATE kbts_publications SET state = 'sending', attempts = attempts + 1, planned_parts = ?,
  attempt_started_at = COALESCE(attempt_started_at, ?), next_attempt_at = NULL, updated_at = ?
  WHERE id = ? AND state = ? AND attempts = ?`;
const MARK_SENT_ON_SQLITE = `UPDATE kbts_publications SET state = 'sent', tweet_id = ?, sent_at = ?, reason = NULL, next_attempt_at = NULL, updated_at = ?
  WHERE id = ?`;

/** The only SQL for kbts_publications, the per-record state machine. */
export class PublicationStore {
  constructor(private readonly db: Knex) {}

  /** This store on another connection, e.g. a transaction: `store.with(trx).method(…)`. */
  with(db: Knex): PublicationStore {
    return new PublicationStore(db);
  }

  /** Pending records and unknown outcomes ("sending") whose next attempt is due, oldest first. */
  async listDue(integrationId: number, now: string, limit: number): Promise<Publication[]> {
    const rows = await whereDue(this.db<PublicationRow>('kbts_publications').where({ integration_id: integrationId }), now)
      .orderBy('id')
      .limit(limit);
    return rows.map(toPublication);
  }

  /** Which of these integrations have records due now (listDue would give them some): one index step per integration. */
  async integrationsWithDue(integrationIds: number[], now: string): Promise<number[]> {
    return integrationsWithDueRows(this.db, 'kbts_publications', integrationIds, now);
  }

  /**
   * A backfill: every record the table holds now becomes pending, exactly as the capture
   * trigger would have made it. Table and key names come from introspection.
   */
  async insertPendingForExisting(integrationId: number, table: string, primaryKey: string, now: string): Promise<number> {
    const count = async () => Number((await this.db('kbts_publications').where({ integration_id: integrationId }).count({ count: '*' }).first())?.count ?? 0);
    const before = await count();
    // "WHERE true" lets SQLite parse ON CONFLICT after INSERT … SELECT.
    await this.db.raw(
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
   * pending (or sending, to retry) → sending, committed before the API call, for several records
   * together. Each is conditional on the state it was read in, so two workers can never
   * both own the same attempt; returns the ids that moved, the ones this worker owns.
   */
  async beginAttempts(attempts: Array<{ publication: Publication; parts: string[] }>, now: string): Promise<Set<number>> {
    const begun = new Set<number>();
    if (!isPostgres(this.db)) {
      const changed = await runEachRowOnSqlite(this.db, BEGIN_ATTEMPT_ON_SQLITE, attempts.map(({ publication, parts }) => [
        JSON.stringify(parts), now, now, publication.id, publication.state, publication.attempts,
      ]));
      attempts.forEach(({ publication }, index) => { if (changed[index] > 0) begun.add(publication.id); });
      return begun;
    }
    for (let i = 0; i < attempts.length; i += BY_ID_CHUNK) {
      const chunk = attempts.slice(i, i + BY_ID_CHUNK);
      const rows: Array<{ id: number }> = await this.db('kbts_publications')
        .where((read) => {
          for (const { publication } of chunk) read.orWhere({ id: publication.id, state: publication.state, attempts: publication.attempts });
        })
        .update({
          state: 'sending',
          attempts: this.db.raw('attempts + 1'),
          planned_parts: byId(this.db, chunk.map(({ publication, parts }) => [publication.id, JSON.stringify(parts)])),
          // The first attempt's start bounds the reconciliation window of every later one.
          attempt_started_at: this.db.raw('COALESCE(attempt_started_at, ?)', [now]),
          next_attempt_at: null,
          updated_at: now,
        })
        .returning('id');
      for (const row of rows) begun.add(Number(row.id));
    }
    return begun;
  }

  /**
   * sending → exactly as it was read, for an attempt begun with others that the cycle stopped
   * before making: nothing went out, so nothing is left to reconcile.
   */
  async cancelAttempt(publication: Publication, now: string): Promise<void> {
    await this.db('kbts_publications')
      .where({ id: publication.id, state: 'sending', attempts: publication.attempts + 1 })
      .update({
        state: publication.state,
        attempts: publication.attempts,
        planned_parts: publication.plannedParts ? JSON.stringify(publication.plannedParts) : null,
        attempt_started_at: publication.attemptStartedAt,
        next_attempt_at: publication.nextAttemptAt,
        updated_at: now,
      });
  }

  /** sending → sent with the tweet id, for several records together. */
  async markSentMany(sent: Array<{ id: number; tweetId: string; at: string }>): Promise<void> {
    if (!isPostgres(this.db)) {
      await runEachRowOnSqlite(this.db, MARK_SENT_ON_SQLITE, sent.map((item) => [item.tweetId, item.at, item.at, item.id]));
      return;
    }
    for (let i = 0; i < sent.length; i += BY_ID_CHUNK) {
      const chunk = sent.slice(i, i + BY_ID_CHUNK);
      const at = byId(this.db, chunk.map((item) => [item.id, item.at]));
      await this.db('kbts_publications').whereIn('id', chunk.map((item) => item.id)).update({
        state: 'sent', tweet_id: byId(this.db, chunk.map((item) => [item.id, item.tweetId])), sent_at: at, reason: null, next_attempt_at: null, updated_at: at,
      });
    }
  }

  /** A thread's first part is out: the conversation exists even while later parts are still going. */
  async setRootTweet(id: number, tweetId: string, now: string): Promise<void> {
    await this.db('kbts_publications').where({ id }).update({ tweet_id: tweetId, updated_at: now });
  }

  async markFinal(id: number, state: 'failed' | 'skipped', reason: string, now: string): Promise<void> {
    await this.db('kbts_publications').where({ id }).update({ state, reason, next_attempt_at: null, updated_at: now });
  }

  /**
   * failed | skipped → pending, to be planned again from the record's current text and the
   * integration's current policy. Conditional in the statement itself: a record that is sent,
   * being sent, or has any part out on X (a root tweet, an "out" log row) is never touched, so
   * a retry can never make a second tweet. Returns the record keys that moved.
   */
  async retry(integrationId: number, recordKey: string | null, now: string, states: Array<'failed' | 'skipped'> = ['failed', 'skipped']): Promise<string[]> {
    const query = this.db('kbts_publications')
      .where({ integration_id: integrationId })
      .whereIn('state', states)
      .whereNull('tweet_id')
      .whereNotExists((out) => out.select(this.db.raw('1')).from('kbts_communications')
        .whereRaw('kbts_communications.publication_id = kbts_publications.id').where('kbts_communications.direction', 'out'));
    if (recordKey !== null) query.where({ record_key: recordKey });
    const rows: Array<{ record_key: string }> = await query
      .update({ state: 'pending', reason: null, planned_parts: null, attempt_started_at: null, next_attempt_at: null, updated_at: now })
      .returning('record_key');
    return rows.map((row) => row.record_key);
  }

  /** The outcome is unknown: stay in "sending" and reconcile at the next attempt. */
  async deferUnknown(id: number, nextAttemptAt: string, reason: string, now: string): Promise<void> {
    await this.db('kbts_publications').where({ id }).update({ state: 'sending', next_attempt_at: nextAttemptAt, reason, updated_at: now });
  }

  /** X said no before creating anything (429, 401): back to pending, with nothing lost. */
  async returnToPending(id: number, nextAttemptAt: string | null, reason: string, now: string): Promise<void> {
    await this.db('kbts_publications').where({ id }).update({ state: 'pending', next_attempt_at: nextAttemptAt, reason, updated_at: now });
  }

  /**
   * When the oldest attempt still "sending" with no tweet of it committed began, among these
   * integrations (a post it made, and any reply to that post, is not older); null when none is.
   */
  async oldestUncommittedAttempt(integrationIds: number[]): Promise<string | null> {
    if (integrationIds.length === 0) return null;
    const row = await this.db('kbts_publications').whereIn('integration_id', integrationIds)
      .where({ state: 'sending' }).whereNull('tweet_id').min({ at: 'attempt_started_at' }).first();
    return (row?.at as string | null | undefined) ?? null;
  }

  /**
   * The records whose tweets start these conversations, with only what matching a reply needs:
   * a poll matches thousands of replies, and whole rows cost more to read and map than the lookup.
   */
  async conversationStarts(tweetIds: string[]): Promise<ConversationStart[]> {
    if (tweetIds.length === 0) return [];
    const rows: Array<Pick<PublicationRow, 'id' | 'integration_id' | 'record_key' | 'tweet_id'>> = await whereInList(
      this.db, this.db('kbts_publications').select('id', 'integration_id', 'record_key', 'tweet_id'), 'tweet_id', tweetIds,
    );
    return rows.map((row) => ({ id: row.id, integrationId: row.integration_id, recordKey: row.record_key, tweetId: row.tweet_id as string }));
  }

  async findSentByTweetIds(tweetIds: string[]): Promise<Publication[]> {
    if (tweetIds.length === 0) return [];
    const rows: PublicationRow[] = await whereInList(this.db, this.db<PublicationRow>('kbts_publications'), 'tweet_id', tweetIds);
    return rows.map(toPublication);
  }

  async countByState(integrationId?: number): Promise<StateCounts> {
    const query = this.db('kbts_publications').select('state').count({ count: '*' }).groupBy('state');
    if (integrationId !== undefined) query.where({ integration_id: integrationId });
    const counts: StateCounts = { pending: 0, sending: 0, sent: 0, failed: 0, skipped: 0 };
    for (const row of (await query) as Array<{ state: PublicationState; count: number | string }>) counts[row.state] = Number(row.count);
    return counts;
  }

  /** One page of the keys of an integration's records in a state, newest capture first. */
  async listKeysInState(integrationId: number, state: PublicationState, page: { limit: number; offset: number }): Promise<string[]> {
    const rows: Array<{ record_key: string }> = await this.db('kbts_publications')
      .select('record_key')
      .where({ integration_id: integrationId, state })
      .orderBy('id', 'desc')
      .limit(page.limit)
      .offset(page.offset);
    return rows.map((row) => row.record_key);
  }

  async listForIntegration(integrationId: number): Promise<Publication[]> {
    return (await this.db<PublicationRow>('kbts_publications').where({ integration_id: integrationId }).orderBy('id')).map(toPublication);
  }

  async removeForIntegration(integrationId: number): Promise<void> {
    await this.db('kbts_publications').where({ integration_id: integrationId }).delete();
  }
}

// Integration ids per statement: well below either database's limit on bound values.
const IDS_PER_STATEMENT = 500;

/** Due: pending, or sending with its outcome unknown, and its next attempt not in the future (publications and agent replies alike). */
export function whereDue<Q extends Knex.QueryBuilder>(query: Q, now: string): Q {
  return query.whereIn('state', ['pending', 'sending'])
    .where((when) => when.whereNull('next_attempt_at').orWhere('next_attempt_at', '<=', now)) as Q;
}

/**
 * The integrations with a row due (see whereDue) in a table of such rows: publications, agent replies. Each integration is looked up by its
 * (integration_id, state) index, never a pass over the table.
 */
export async function integrationsWithDueRows(db: Knex, table: string, integrationIds: number[], now: string): Promise<number[]> {
  const due: number[] = [];
  for (let start = 0; start < integrationIds.length; start += IDS_PER_STATEMENT) {
    const rows: Array<{ integration_id: number }> = await whereDue(
      db(table).distinct('integration_id').whereIn('integration_id', integrationIds.slice(start, start + IDS_PER_STATEMENT)), now,
    );
    for (const row of rows) due.push(Number(row.integration_id));
  }
  return due;
}
