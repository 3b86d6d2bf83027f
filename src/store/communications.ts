import type { Knex } from 'knex';
import { bulkInsert, type BulkValue } from '../db/bulk-insert';
import { whereInList } from '../db/dialect';

export type Direction = 'out' | 'in';

export interface Communication {
  id: number;
  integrationId: number;
  publicationId: number | null;
  recordKey: string;
  direction: Direction;
  tweetId: string;
  conversationId: string | null;
  inReplyToTweetId: string | null;
  authorId: string | null;
  authorUsername: string | null;
  text: string;
  tweetCreatedAt: string | null;
  applied: boolean;
  notAppliedReason: string | null;
  /** Not applied only because the integration was paused: the resume writes it in. */
  heldUntilResume: boolean;
  recordedAt: string;
  /** An agent's reply from the record: the user who wrote it. */
  writtenBy: string | null;
}

export type NewCommunication = Omit<Communication, 'id' | 'heldUntilResume' | 'writtenBy'> & { heldUntilResume?: boolean; writtenBy?: string | null };

interface CommunicationRow {
  id: number;
  integration_id: number;
  publication_id: number | null;
  record_key: string;
  direction: Direction;
  tweet_id: string;
  conversation_id: string | null;
  in_reply_to_tweet_id: string | null;
  author_id: string | null;
  author_username: string | null;
  text: string;
  tweet_created_at: string | null;
  applied: boolean | number;
  not_applied_reason: string | null;
  held_until_resume: boolean | number;
  recorded_at: string;
  written_by: string | null;
}

function toCommunication(row: CommunicationRow): Communication {
  return {
    id: row.id,
    integrationId: row.integration_id,
    publicationId: row.publication_id,
    recordKey: row.record_key,
    direction: row.direction,
    tweetId: row.tweet_id,
    conversationId: row.conversation_id,
    inReplyToTweetId: row.in_reply_to_tweet_id,
    authorId: row.author_id,
    authorUsername: row.author_username,
    text: row.text,
    tweetCreatedAt: row.tweet_created_at,
    applied: Boolean(row.applied),
    notAppliedReason: row.not_applied_reason,
    heldUntilResume: Boolean(row.held_until_resume),
    recordedAt: row.recorded_at,
    writtenBy: row.written_by ?? null,
  };
}

/** Each inserted column with its value from an entry: one list, so names and values cannot drift apart. */
const INSERTED: ReadonlyArray<[column: keyof CommunicationRow, value: (entry: NewCommunication) => BulkValue]> = [
  ['integration_id', (entry) => entry.integrationId],
  ['publication_id', (entry) => entry.publicationId],
  ['record_key', (entry) => entry.recordKey],
  ['direction', (entry) => entry.direction],
  ['tweet_id', (entry) => entry.tweetId],
  ['conversation_id', (entry) => entry.conversationId],
  ['in_reply_to_tweet_id', (entry) => entry.inReplyToTweetId],
  ['author_id', (entry) => entry.authorId],
  ['author_username', (entry) => entry.authorUsername],
  ['text', (entry) => entry.text],
  ['tweet_created_at', (entry) => entry.tweetCreatedAt],
  ['applied', (entry) => entry.applied],
  ['not_applied_reason', (entry) => entry.notAppliedReason],
  ['held_until_resume', (entry) => entry.heldUntilResume ?? false],
  ['recorded_at', (entry) => entry.recordedAt],
  ['written_by', (entry) => entry.writtenBy ?? null],
];
const INSERT_COLUMNS = INSERTED.map(([column]) => column);

/** The communications log: every tweet out and reply in, unique by tweet id. */
export class CommunicationStore {
  constructor(private readonly db: Knex) {}

  /** This store on another connection, e.g. a transaction: `store.with(trx).method(…)`. */
  with(db: Knex): CommunicationStore {
    return new CommunicationStore(db);
  }

  /** Inserts the entries not logged yet; returns how many were new. */
  async insert(entries: NewCommunication[]): Promise<number> {
    const inserted = await bulkInsert(this.db, {
      table: 'kbts_communications',
      columns: INSERT_COLUMNS,
      // Straight to the values, one array per row: a poll may log thousands.
      rows: entries.map((entry) => INSERTED.map(([, value]) => value(entry) ?? null)),
      onConflictDoNothing: ['tweet_id'],
      returning: 'tweet_id',
    });
    return inserted.length;
  }

  async loggedTweetIds(tweetIds: string[]): Promise<Set<string>> {
    if (tweetIds.length === 0) return new Set();
    const rows: Array<{ tweet_id: string }> = await whereInList(this.db, this.db('kbts_communications').select('tweet_id'), 'tweet_id', tweetIds);
    return new Set(rows.map((row) => row.tweet_id));
  }

  /**
   * The replies an integration's pause held back, taken (no longer held) by this call in one
   * conditional statement, so two resumes at once never both write the same reply: the caller
   * writes them in and settles each with `settleReply` in the same transaction. Oldest first.
   */
  async takeHeldUntilResume(integrationId: number): Promise<Communication[]> {
    const rows: CommunicationRow[] = await this.db('kbts_communications')
      .where({ integration_id: integrationId, direction: 'in', applied: false, held_until_resume: true })
      .update({ held_until_resume: false })
      .returning('*');
    return rows.map(toCommunication)
      .sort((a, b) => (a.tweetCreatedAt ?? '').localeCompare(b.tweetCreatedAt ?? '') || a.id - b.id);
  }

  /** A logged reply's outcome: applied, or not with the reason. */
  async settleReply(id: number, outcome: { applied: boolean; notAppliedReason: string | null }): Promise<void> {
    await this.db('kbts_communications').where({ id }).update({ applied: outcome.applied, not_applied_reason: outcome.notAppliedReason });
  }

  async listForPublication(publicationId: number): Promise<Communication[]> {
    const rows = await this.db<CommunicationRow>('kbts_communications').where({ publication_id: publicationId }).orderBy('id');
    return rows.map(toCommunication);
  }

  async list(filter: { integrationId?: number; direction?: Direction; applied?: boolean; limit?: number; offset?: number } = {}): Promise<Communication[]> {
    const query = this.db<CommunicationRow>('kbts_communications').orderBy('id', 'desc').limit(filter.limit ?? 100).offset(filter.offset ?? 0);
    if (filter.integrationId !== undefined) query.where({ integration_id: filter.integrationId });
    if (filter.direction) query.where({ direction: filter.direction });
    if (filter.applied !== undefined) query.where({ applied: filter.applied });
    return (await query).map(toCommunication);
  }

  /** The first tweet the KB posted for these integrations: no reply to a record can be older. */
  async firstOutgoing(integrationIds: number[]): Promise<string | undefined> {
    const row = await this.db('kbts_communications').whereIn('integration_id', integrationIds)
      .where({ direction: 'out' }).orderBy('id').first('tweet_id');
    return row?.tweet_id;
  }

  /** Conversations with a logged reply, since the given moment, to something the KB did not post. */
  async conversationsWithSubThreads(integrationIds: number[], since: string): Promise<string[]> {
    const rows: Array<{ conversation_id: string }> = await this.db('kbts_communications as reply')
      .distinct('reply.conversation_id')
      .whereIn('reply.integration_id', integrationIds)
      .where('reply.direction', 'in')
      .where('reply.recorded_at', '>', since)
      .whereNotNull('reply.conversation_id')
      .whereNotExists((ours) => ours.select(this.db.raw('1')).from('kbts_communications as ours')
        .whereRaw('ours.tweet_id = reply.in_reply_to_tweet_id').where('ours.direction', 'out'));
    return rows.map((row) => row.conversation_id);
  }

  async countApplied(integrationId: number): Promise<number> {
    const row = await this.db('kbts_communications').where({ integration_id: integrationId, direction: 'in', applied: true }).count({ count: '*' }).first();
    return Number(row?.count ?? 0);
  }
}
