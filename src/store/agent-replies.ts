import type { Knex } from 'knex';
import { isPostgres, RECORDS_CHANNEL } from '../db/dialect';
import { integrationsWithDueRows, whereDue } from './publications';

/** An agent's reply: pending → sending → sent | failed, as a record's tweet (DESIGN.md section 4). */
export type AgentReplyState = 'pending' | 'sending' | 'sent' | 'failed';

export interface AgentReply {
  id: number;
  integrationId: number;
  recordKey: string;
  publicationId: number;
  inReplyToTweetId: string;
  body: string;
  text: string;
  userId: number;
  username: string;
  initials: string;
  idempotencyKey: string;
  state: AgentReplyState;
  reason: string | null;
  tweetId: string | null;
  attempts: number;
  attemptStartedAt: string | null;
  nextAttemptAt: string | null;
  sentAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export type NewAgentReply = Pick<AgentReply, 'integrationId' | 'recordKey' | 'publicationId' | 'inReplyToTweetId' | 'body' | 'text' | 'userId' | 'username' | 'initials' | 'idempotencyKey'> & { contentKey: string };

interface AgentReplyRow {
  id: number;
  integration_id: number;
  record_key: string;
  publication_id: number;
  in_reply_to_tweet_id: string;
  body: string;
  text: string;
  user_id: number;
  username: string;
  initials: string;
  idempotency_key: string;
  content_key: string | null;
  state: AgentReplyState;
  reason: string | null;
  tweet_id: string | null;
  attempts: number;
  attempt_started_at: string | null;
  next_attempt_at: string | null;
  sent_at: string | null;
  created_at: string;
  updated_at: string;
}

function toReply(row: AgentReplyRow): AgentReply {
  return {
    id: Number(row.id), integrationId: row.integration_id, recordKey: row.record_key, publicationId: row.publication_id,
    inReplyToTweetId: row.in_reply_to_tweet_id, body: row.body, text: row.text, userId: row.user_id, username: row.username,
    initials: row.initials, idempotencyKey: row.idempotency_key, state: row.state, reason: row.reason, tweetId: row.tweet_id,
    attempts: row.attempts, attemptStartedAt: row.attempt_started_at, nextAttemptAt: row.next_attempt_at, sentAt: row.sent_at,
    createdAt: row.created_at, updatedAt: row.updated_at,
  };
}

const TABLE = 'kbts_agent_replies';

/** The only SQL for kbts_agent_replies, the agents' replies waiting, going or gone out. */
export class AgentReplyStore {
  constructor(private readonly db: Knex) {}

  /** This store on another connection, e.g. a transaction: `store.with(trx).method(…)`. */
  with(db: Knex): AgentReplyStore {
    return new AgentReplyStore(db);
  }

  /**
   * Queues a reply once: the same idempotency key from the same user, or the same text to the
   * same tweet while an earlier one is queued or out, finds that reply instead (`created` false).
   */
  async queue(reply: NewAgentReply, now: string): Promise<{ reply: AgentReply; created: boolean }> {
    const rows: Array<{ id: number }> = await this.db(TABLE).insert({
      integration_id: reply.integrationId, record_key: reply.recordKey, publication_id: reply.publicationId,
      in_reply_to_tweet_id: reply.inReplyToTweetId, body: reply.body, text: reply.text, user_id: reply.userId,
      username: reply.username, initials: reply.initials, idempotency_key: reply.idempotencyKey, content_key: reply.contentKey,
      state: 'pending', attempts: 0, created_at: now, updated_at: now,
    }).onConflict().ignore().returning('id');
    if (rows.length > 0) return { reply: (await this.get(Number(rows[0].id)))!, created: true };
    const existing = await this.db<AgentReplyRow>(TABLE)
      .where({ user_id: reply.userId, idempotency_key: reply.idempotencyKey })
      .orWhere({ content_key: reply.contentKey })
      .orderBy('id').first();
    if (!existing) throw new Error('an agent reply was neither queued nor found');
    return { reply: toReply(existing), created: false };
  }

  /**
   * Tells other processes' publishers at commit, as the capture trigger does for records: on
   * PostgreSQL a notification on the records channel; SQLite's workers see the new row through
   * PRAGMA data_version (src/sync/change-watch.ts).
   */
  async announce(integrationId: number): Promise<void> {
    if (isPostgres(this.db)) await this.db.raw('SELECT pg_notify(?, ?)', [RECORDS_CHANNEL, String(integrationId)]);
  }

  async get(id: number): Promise<AgentReply | undefined> {
    const row = await this.db<AgentReplyRow>(TABLE).where({ id }).first();
    return row ? toReply(row) : undefined;
  }

  async listForRecord(integrationId: number, recordKey: string): Promise<AgentReply[]> {
    return (await this.db<AgentReplyRow>(TABLE).where({ integration_id: integrationId, record_key: recordKey }).orderBy('id')).map(toReply);
  }

  /** Which of these integrations have agent replies due now. */
  async integrationsWithDue(integrationIds: number[], now: string): Promise<number[]> {
    return integrationsWithDueRows(this.db, TABLE, integrationIds, now);
  }

  /** Pending replies and unknown outcomes ("sending") whose next attempt is due, oldest first. */
  async listDue(integrationIds: number[], now: string, limit: number): Promise<AgentReply[]> {
    if (integrationIds.length === 0) return [];
    const rows = await whereDue(this.db<AgentReplyRow>(TABLE).whereIn('integration_id', integrationIds), now)
      .orderBy('id').limit(limit);
    return rows.map(toReply);
  }

  /** pending | sending → sending, committed before the call, conditional on the row as read: true when this worker owns the attempt. */
  async begin(reply: AgentReply, now: string): Promise<boolean> {
    const moved = await this.db(TABLE).where({ id: reply.id, state: reply.state, attempts: reply.attempts }).update({
      state: 'sending', attempts: reply.attempts + 1, attempt_started_at: reply.attemptStartedAt ?? now, next_attempt_at: null, updated_at: now,
    });
    return moved === 1;
  }

  async markSent(id: number, tweetId: string, now: string): Promise<void> {
    await this.db(TABLE).where({ id }).update({ state: 'sent', tweet_id: tweetId, sent_at: now, reason: null, next_attempt_at: null, updated_at: now });
  }

  /** Failed for good; its text may be sent again as a new reply, so it no longer holds the content key. */
  async markFailed(id: number, reason: string, now: string): Promise<void> {
    await this.db(TABLE).where({ id }).update({ state: 'failed', reason, content_key: null, next_attempt_at: null, updated_at: now });
  }

  async deferUnknown(id: number, nextAttemptAt: string, reason: string, now: string): Promise<void> {
    await this.db(TABLE).where({ id }).update({ state: 'sending', next_attempt_at: nextAttemptAt, reason, updated_at: now });
  }

  async returnToPending(id: number, nextAttemptAt: string | null, reason: string, now: string): Promise<void> {
    await this.db(TABLE).where({ id }).update({ state: 'pending', next_attempt_at: nextAttemptAt, reason, updated_at: now });
  }
}

/** The integration's switches for replies from the record. */
export interface ReplySwitches {
  agentInitials: boolean;
  dmDeepLink: boolean;
}

/** The talk-back columns of kbts_integrations and kbts_users, kept apart from the wizard's settings. */
export class TalkbackSettingsStore {
  constructor(private readonly db: Knex) {}

  async switches(integrationId: number): Promise<ReplySwitches> {
    const row = await this.db('kbts_integrations').where({ id: integrationId }).first('agent_initials', 'dm_deep_link');
    return { agentInitials: Boolean(row?.agent_initials), dmDeepLink: Boolean(row?.dm_deep_link) };
  }

  async setSwitches(integrationId: number, switches: ReplySwitches): Promise<void> {
    await this.db('kbts_integrations').where({ id: integrationId }).update({ agent_initials: switches.agentInitials, dm_deep_link: switches.dmDeepLink });
  }

  async displayName(userId: number): Promise<string | null> {
    const row = await this.db('kbts_users').where({ id: userId }).first('display_name');
    return row?.display_name ?? null;
  }

  async setDisplayName(userId: number, name: string | null): Promise<void> {
    await this.db('kbts_users').where({ id: userId }).update({ display_name: name });
  }
}
