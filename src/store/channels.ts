import type { Knex } from 'knex';
import type { ResponseMode } from '../kb/schema';

export const CHANNEL_KINDS = ['mentions', 'dms'] as const;
export type ChannelKind = (typeof CHANNEL_KINDS)[number];
export type ChannelStatus = 'active' | 'paused';

/** The values a channel's tag field takes, as the help desks name them. */
export const CHANNEL_TAGS: Record<ChannelKind, string> = { mentions: 'Twitter: Mention', dms: 'Twitter: Direct' };

export interface ChannelMapping {
  accountId: number;
  kind: ChannelKind;
  tableName: string;
  primaryKeyColumn: string;
  textField: string;
  authorField: string;
  linkField: string;
  tagField: string | null;
  responseField: string;
  responseMode: ResponseMode;
  continueField: string;
}

/** An inbound channel: an account's mentions or direct messages made records of a KB table. */
export interface Channel extends ChannelMapping {
  id: number;
  timeZone: string;
  status: ChannelStatus;
  pausedReason: string | null;
  dmCursorId: string | null;
  dmReadAt: string | null;
  startedAt: string;
  lastError: string | null;
  createdAt: string;
}

interface ChannelRow {
  id: number;
  account_id: number;
  kind: ChannelKind;
  table_name: string;
  primary_key_column: string;
  text_field: string;
  author_field: string;
  link_field: string;
  tag_field: string | null;
  response_field: string;
  response_mode: ResponseMode;
  continue_field: string;
  time_zone: string;
  status: ChannelStatus;
  paused_reason: string | null;
  dm_cursor_id: string | null;
  dm_read_at: string | null;
  started_at: string;
  last_error: string | null;
  created_at: string;
}

function toChannel(row: ChannelRow): Channel {
  return {
    id: row.id, accountId: row.account_id, kind: row.kind, tableName: row.table_name, primaryKeyColumn: row.primary_key_column,
    textField: row.text_field, authorField: row.author_field, linkField: row.link_field, tagField: row.tag_field,
    responseField: row.response_field, responseMode: row.response_mode, continueField: row.continue_field, timeZone: row.time_zone,
    status: row.status, pausedReason: row.paused_reason, dmCursorId: row.dm_cursor_id, dmReadAt: row.dm_read_at, startedAt: row.started_at,
    lastError: row.last_error, createdAt: row.created_at,
  };
}

export type EntrySource = 'mention' | 'dm';

/** One thing a channel saw: a mention or reply under it, or a direct message, in or out. */
export interface ChannelEntry {
  id: number;
  channelId: number;
  source: EntrySource;
  xId: string;
  direction: 'in' | 'out';
  /** mention: the tweet it answers; dm: null. */
  parentId: string | null;
  /** The other person: a mention's author, a DM's correspondent. */
  personId: string | null;
  authorUsername: string | null;
  text: string;
  xCreatedAt: string | null;
  recordKey: string | null;
  openedRecord: boolean;
  applied: boolean;
  /** Logged while the channel was paused: the resume places it. */
  held: boolean;
  notAppliedReason: string | null;
  dmReplyId: number | null;
  recordedAt: string;
}

export type NewChannelEntry = Pick<ChannelEntry, 'channelId' | 'source' | 'xId' | 'direction' | 'parentId' | 'personId' | 'authorUsername' | 'text' | 'xCreatedAt'>
  & Partial<Pick<ChannelEntry, 'recordKey' | 'applied' | 'held' | 'notAppliedReason' | 'dmReplyId'>>;

interface EntryRow {
  id: number;
  channel_id: number;
  source: EntrySource;
  x_id: string;
  direction: 'in' | 'out';
  parent_id: string | null;
  person_id: string | null;
  author_username: string | null;
  text: string;
  x_created_at: string | null;
  record_key: string | null;
  opened_record: boolean | number;
  applied: boolean | number;
  held: boolean | number;
  not_applied_reason: string | null;
  dm_reply_id: number | null;
  recorded_at: string;
}

function toEntry(row: EntryRow): ChannelEntry {
  return {
    id: row.id, channelId: row.channel_id, source: row.source, xId: row.x_id, direction: row.direction, parentId: row.parent_id,
    personId: row.person_id, authorUsername: row.author_username, text: row.text, xCreatedAt: row.x_created_at, recordKey: row.record_key,
    openedRecord: Boolean(row.opened_record), applied: Boolean(row.applied), held: Boolean(row.held), notAppliedReason: row.not_applied_reason,
    dmReplyId: row.dm_reply_id, recordedAt: row.recorded_at,
  };
}

export type DmReplyState = 'pending' | 'sending' | 'sent' | 'failed';

/** A direct message to send from a DM-channel record, exactly once. */
export interface DmReply {
  id: number;
  channelId: number;
  recordKey: string;
  participantId: string;
  /** A mentions-channel reply's target post; null for a direct message. */
  inReplyToTweetId: string | null;
  text: string;
  state: DmReplyState;
  /** The X id of what was sent: the DM event, or the post for a mentions-channel reply. */
  dmEventId: string | null;
  attemptStartedAt: string | null;
  nextAttemptAt: string | null;
  reason: string | null;
  requestedBy: string | null;
  createdAt: string;
  updatedAt: string;
}

interface DmReplyRow {
  id: number;
  channel_id: number;
  record_key: string;
  participant_id: string;
  in_reply_to_tweet_id: string | null;
  text: string;
  state: DmReplyState;
  dm_event_id: string | null;
  attempt_started_at: string | null;
  next_attempt_at: string | null;
  reason: string | null;
  requested_by: string | null;
  created_at: string;
  updated_at: string;
}

function toDmReply(row: DmReplyRow): DmReply {
  return {
    id: row.id, channelId: row.channel_id, recordKey: row.record_key, participantId: row.participant_id, inReplyToTweetId: row.in_reply_to_tweet_id ?? null,
    text: row.text, state: row.state,
    dmEventId: row.dm_event_id, attemptStartedAt: row.attempt_started_at, nextAttemptAt: row.next_attempt_at, reason: row.reason,
    requestedBy: row.requested_by, createdAt: row.created_at, updatedAt: row.updated_at,
  };
}

/** Channels, their entries and their queue of direct messages to send. */
export class ChannelStore {
  constructor(private readonly db: Knex) {}

  /** This store on another connection, e.g. a transaction: `store.with(trx).method(…)`. */
  with(db: Knex): ChannelStore {
    return new ChannelStore(db);
  }

  // ---- channels ------------------------------------------------------------------------------

  async create(mapping: ChannelMapping, now: string): Promise<number> {
    const [row] = await this.db('kbts_channels').insert({
      account_id: mapping.accountId, kind: mapping.kind, table_name: mapping.tableName, primary_key_column: mapping.primaryKeyColumn,
      text_field: mapping.textField, author_field: mapping.authorField, link_field: mapping.linkField, tag_field: mapping.tagField,
      response_field: mapping.responseField, response_mode: mapping.responseMode, continue_field: mapping.continueField,
      status: 'active', started_at: now, created_at: now, updated_at: now,
    }).returning('id');
    return typeof row === 'object' ? row.id : row;
  }

  async get(id: number): Promise<Channel | undefined> {
    const row = await this.db<ChannelRow>('kbts_channels').where({ id }).first();
    return row ? toChannel(row) : undefined;
  }

  async list(): Promise<Channel[]> {
    return (await this.db<ChannelRow>('kbts_channels').orderBy('id')).map(toChannel);
  }

  async listForAccount(accountId: number): Promise<Channel[]> {
    return (await this.db<ChannelRow>('kbts_channels').where({ account_id: accountId }).orderBy('id')).map(toChannel);
  }

  async findForAccount(accountId: number, kind: ChannelKind): Promise<Channel | undefined> {
    const row = await this.db<ChannelRow>('kbts_channels').where({ account_id: accountId, kind }).first();
    return row ? toChannel(row) : undefined;
  }

  async pause(id: number, reason: string, now: string): Promise<void> {
    await this.db('kbts_channels').where({ id }).update({ status: 'paused', paused_reason: reason, updated_at: now });
  }

  async resume(id: number, now: string): Promise<void> {
    await this.db('kbts_channels').where({ id }).update({ status: 'active', paused_reason: null, last_error: null, updated_at: now });
  }

  async recordError(id: number, error: string | null, now: string): Promise<void> {
    await this.db('kbts_channels').where({ id }).update({ last_error: error, updated_at: now });
  }

  /** A read of the DM events that finished: the newest event read (if any) and when. */
  async setDmCursor(id: number, cursor: string | null, now: string): Promise<void> {
    await this.db('kbts_channels').where({ id }).update({ ...(cursor ? { dm_cursor_id: cursor } : {}), dm_read_at: now, updated_at: now });
  }

  async remove(id: number): Promise<void> {
    await this.db('kbts_dm_replies').where({ channel_id: id }).delete();
    await this.db('kbts_channel_entries').where({ channel_id: id }).delete();
    await this.db('kbts_channels').where({ id }).delete();
  }

  // ---- entries -------------------------------------------------------------------------------

  /** Logs the entries not logged yet (unique by source and X id) and returns those, in the order given. */
  async insertNew(entries: NewChannelEntry[], now: string): Promise<ChannelEntry[]> {
    const fresh: ChannelEntry[] = [];
    for (const entry of entries) {
      const rows: EntryRow[] = await this.db('kbts_channel_entries').insert({
        channel_id: entry.channelId, source: entry.source, x_id: entry.xId, direction: entry.direction, parent_id: entry.parentId,
        person_id: entry.personId, author_username: entry.authorUsername, text: entry.text, x_created_at: entry.xCreatedAt,
        record_key: entry.recordKey ?? null, applied: entry.applied ?? false, held: entry.held ?? false,
        not_applied_reason: entry.notAppliedReason ?? null, dm_reply_id: entry.dmReplyId ?? null, recorded_at: now,
      }).onConflict(['source', 'x_id']).ignore().returning('*');
      if (rows.length > 0) fresh.push(toEntry(rows[0]));
    }
    return fresh;
  }

  async settleEntry(id: number, outcome: Pick<ChannelEntry, 'recordKey' | 'applied' | 'notAppliedReason' | 'openedRecord' | 'held'>): Promise<void> {
    await this.db('kbts_channel_entries').where({ id }).update({
      record_key: outcome.recordKey, applied: outcome.applied, not_applied_reason: outcome.notAppliedReason, opened_record: outcome.openedRecord, held: outcome.held,
    });
  }

  async loggedIds(source: EntrySource, xIds: string[]): Promise<Set<string>> {
    if (xIds.length === 0) return new Set();
    const rows: Array<{ x_id: string }> = await this.db('kbts_channel_entries').where({ source }).whereIn('x_id', xIds).select('x_id');
    return new Set(rows.map((row) => row.x_id));
  }

  async findEntry(source: EntrySource, xId: string): Promise<ChannelEntry | undefined> {
    const row = await this.db<EntryRow>('kbts_channel_entries').where({ source, x_id: xId }).first();
    return row ? toEntry(row) : undefined;
  }

  /** The record a person's direct messages last went into, if any. */
  async lastRecordOf(channelId: number, personId: string): Promise<string | null> {
    const row = await this.db('kbts_channel_entries').where({ channel_id: channelId, person_id: personId })
      .whereNotNull('record_key').orderBy('id', 'desc').first('record_key');
    return row?.record_key ?? null;
  }

  /** The entries a pause held back, taken (no longer held) in one statement, oldest first. */
  async takeHeld(channelId: number): Promise<ChannelEntry[]> {
    const rows: EntryRow[] = await this.db('kbts_channel_entries').where({ channel_id: channelId, held: true }).update({ held: false }).returning('*');
    return rows.map(toEntry).sort((a, b) => a.id - b.id);
  }

  async listEntries(channelId: number, filter: { recordKey?: string } = {}): Promise<ChannelEntry[]> {
    const query = this.db<EntryRow>('kbts_channel_entries').where({ channel_id: channelId }).orderBy('id');
    if (filter.recordKey !== undefined) query.where({ record_key: filter.recordKey });
    return (await query).map(toEntry);
  }

  /** A sent DM of ours found again: the entry (maybe logged as sent from an X client) is the reply's. */
  async claimEntryForReply(source: EntrySource, xId: string, dmReplyId: number, recordKey: string): Promise<void> {
    await this.db('kbts_channel_entries').where({ source, x_id: xId }).update({ dm_reply_id: dmReplyId, record_key: recordKey, applied: true, not_applied_reason: null });
  }

  // ---- direct messages to send ---------------------------------------------------------------

  /** Queues a reply; with a request key, the same request again (a form sent twice) answers the first reply's id. */
  async queueDmReply(
    input: {
      channelId: number; recordKey: string; participantId: string; inReplyToTweetId?: string | null; text: string; requestedBy: string | null; requestKey?: string | null;
    }, now: string,
  ): Promise<{ id: number; created: boolean }> {
    const requestKey = input.requestKey ?? null;
    const [row] = await this.db('kbts_dm_replies').insert({
      channel_id: input.channelId, record_key: input.recordKey, participant_id: input.participantId, in_reply_to_tweet_id: input.inReplyToTweetId ?? null,
      text: input.text, state: 'pending',
      requested_by: input.requestedBy, request_key: requestKey, created_at: now, updated_at: now,
    }).onConflict(['channel_id', 'request_key']).ignore().returning('id');
    if (row !== undefined) return { id: typeof row === 'object' ? row.id : row, created: true };
    const first = await this.db('kbts_dm_replies').where({ channel_id: input.channelId, request_key: requestKey }).first('id');
    return { id: first.id, created: false };
  }

  /** The replies sent (or on their way) from one record, oldest first. */
  async listDmRepliesOfRecord(channelId: number, recordKey: string): Promise<DmReply[]> {
    return (await this.db<DmReplyRow>('kbts_dm_replies').where({ channel_id: channelId, record_key: recordKey }).orderBy('id')).map(toDmReply);
  }

  async getDmReply(id: number): Promise<DmReply | undefined> {
    const row = await this.db<DmReplyRow>('kbts_dm_replies').where({ id }).first();
    return row ? toDmReply(row) : undefined;
  }

  async listDmReplies(channelId: number): Promise<DmReply[]> {
    return (await this.db<DmReplyRow>('kbts_dm_replies').where({ channel_id: channelId }).orderBy('id')).map(toDmReply);
  }

  /** Pending and sending replies whose time has come, oldest first. */
  async dueDmReplies(channelId: number, now: string): Promise<DmReply[]> {
    const rows = await this.db<DmReplyRow>('kbts_dm_replies').where({ channel_id: channelId }).whereIn('state', ['pending', 'sending'])
      .andWhere((q) => q.whereNull('next_attempt_at').orWhere('next_attempt_at', '<=', now)).orderBy('id');
    return rows.map(toDmReply);
  }

  /** pending|sending → sending, conditional on the state read, committed before the call. */
  async beginDmAttempt(reply: DmReply, now: string): Promise<boolean> {
    const changed = await this.db('kbts_dm_replies').where({ id: reply.id, state: reply.state, updated_at: reply.updatedAt })
      .update({ state: 'sending', attempt_started_at: reply.attemptStartedAt ?? now, updated_at: now });
    return Number(changed) === 1;
  }

  async settleDmReply(id: number, change: { state: DmReplyState; dmEventId?: string | null; nextAttemptAt?: string | null; reason?: string | null }, now: string): Promise<void> {
    const update: Record<string, unknown> = { state: change.state, updated_at: now };
    if (change.dmEventId !== undefined) update.dm_event_id = change.dmEventId;
    if (change.nextAttemptAt !== undefined) update.next_attempt_at = change.nextAttemptAt;
    if (change.reason !== undefined) update.reason = change.reason;
    await this.db('kbts_dm_replies').where({ id }).update(update);
  }

  /** Of these DM event ids, the ones a queued reply already owns. */
  async dmEventsOfReplies(ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows: Array<{ dm_event_id: string }> = await this.db('kbts_dm_replies').whereIn('dm_event_id', ids).select('dm_event_id');
    return new Set(rows.map((row) => row.dm_event_id));
  }
}
