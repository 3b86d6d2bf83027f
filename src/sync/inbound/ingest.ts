import type { Knex } from 'knex';
import { continueRefusal, parseYesNo } from '../../kb/yes-no';
import { readRecords, writeField, writeFields, type RecordLocation } from '../../kb/records';
import { fieldCharacterLimit } from '../../kb/schema';
import { toIso } from '../../lib/clock';
import type { Account, BacklogWindow } from '../../store/accounts';
import type { NewCommunication } from '../../store/communications';
import type { Integration } from '../../store/integrations';
import type { ConversationStart, Publication } from '../../store/publications';
import { compareTweetIds } from '../../twitter/snowflake';
import type { XTweet } from '../../twitter/x-client';
import { applyEntries, formatEntry, lengthWithEntry, mediaMarkers, unescapeXText } from '../response-format';
import type { SyncDeps } from '../sync-deps';

export interface IngestCounts {
  repliesApplied: number;
  repliesLogged: number;
}

export interface MatchedReply {
  tweet: XTweet;
  publication: ConversationStart;
  integration: Integration;
}

/** What writing a reply into its record needs to know: the tweet and where it goes. */
export interface ReplyToApply {
  tweet: XTweet;
  publication: Pick<Publication, 'id' | 'recordKey'>;
  integration: Integration;
}

/**
 * The one ingestion step every source feeds: tweets are matched to the KB's conversations, and
 * in ONE transaction each new reply is logged (unique by its X id, so a reply two sources
 * deliver is written once), written into its record when the continue field allows, and the
 * source's cursor moves.
 */
export async function ingestReplies(
  deps: SyncDeps, account: Account, integrations: Integration[], tweets: XTweet[],
  options: { moveCursorTo?: string | null; backlogWindow?: BacklogWindow | null } = {},
): Promise<IngestCounts> {
  const counts: IngestCounts = { repliesApplied: 0, repliesLogged: 0 };
  const matched = await matchToConversations(deps, account, tweets, integrations);
  const cursor = options.moveCursorTo ?? null;
  const cursorMoves = cursor !== null && (!account.mentionsCursorId || compareTweetIds(cursor, account.mentionsCursorId) > 0);
  // Most polls find nothing new: no transaction for them (a thousand accounts a minute on one worker).
  if (matched.length === 0 && !cursorMoves && options.backlogWindow === undefined) return counts;
  await deps.db.transaction(async (trx) => {
    const communications = deps.communications.with(trx);
    const alreadyLogged = await communications.loggedTweetIds(matched.map((reply) => reply.tweet.id));
    const fresh = matched.filter((reply) => !alreadyLogged.has(reply.tweet.id)).sort(oldestFirst);
    const byIntegration = new Map<number, MatchedReply[]>();
    for (const reply of fresh) {
      const group = byIntegration.get(reply.integration.id) ?? [];
      group.push(reply);
      byIntegration.set(reply.integration.id, group);
    }
    const log: NewCommunication[] = [];
    for (const replies of byIntegration.values()) log.push(...await applyToRecords(deps, trx, replies));
    await communications.insert(log);
    for (const entry of log) entry.applied ? counts.repliesApplied++ : counts.repliesLogged++;
    if (cursorMoves) await deps.accounts.with(trx).setMentionsCursor(account.id, cursor);
    // With the replies it gave: a crash before the commit reads the same window again.
    if (options.backlogWindow !== undefined) await deps.accounts.with(trx).setBacklogWindow(account.id, options.backlogWindow);
  });
  deps.metrics?.repliesIngested(counts.repliesApplied, counts.repliesLogged);
  return counts;
}

/**
 * Replies in conversations the KB started, each once. A tweet by the account itself, or in a
 * conversation the KB did not start, changes no record.
 */
export async function matchToConversations(deps: SyncDeps, account: Account, tweets: XTweet[], integrations: Integration[]): Promise<MatchedReply[]> {
  const seen = new Set<string>();
  const replies = tweets.filter((tweet) => {
    if (seen.has(tweet.id) || tweet.authorId === account.xUserId || !tweet.conversationId) return false;
    seen.add(tweet.id);
    return true;
  });
  const byId = new Map(integrations.map((integration) => [integration.id, integration]));
  const conversationIds = [...new Set(replies.map((tweet) => tweet.conversationId as string))];
  const byConversation = new Map<string, ConversationStart>();
  for (const publication of await deps.publications.conversationStarts(conversationIds)) {
    if (byId.has(publication.integrationId)) byConversation.set(publication.tweetId, publication);
  }
  const matched: MatchedReply[] = [];
  for (const tweet of replies) {
    const publication = byConversation.get(tweet.conversationId as string);
    if (publication) matched.push({ tweet, publication, integration: byId.get(publication.integrationId) as Integration });
  }
  return matched;
}

/** By the replies' own time, then by id (ids order by time too, but a clock may differ). */
function oldestFirst(a: MatchedReply, b: MatchedReply): number {
  // X's times are ISO 8601 in UTC, which order as plain text (localeCompare is much slower).
  const left = a.tweet.createdAt ?? '';
  const right = b.tweet.createdAt ?? '';
  if (left !== right) return left < right ? -1 : 1;
  return compareTweetIds(a.tweet.id, b.tweet.id);
}

/**
 * Writes one integration's replies into their records, oldest first, one entry at a time so
 * a reply that would overflow a length-limited field is logged instead of cutting anything.
 * Each record is written once. Returns the log rows, applied or with the reason they were not.
 */
export async function applyToRecords(deps: Pick<SyncDeps, 'clock'>, trx: Knex, replies: ReplyToApply[]): Promise<NewCommunication[]> {
  const integration = replies[0].integration;
  const location = { table: integration.tableName, primaryKeyColumn: integration.primaryKeyColumn };
  let records = new Map<string, Record<string, unknown>>();
  let unreadable: string | null = null;
  try {
    // Only the fields a reply needs: a media BLOB of the record stays in the database.
    const keys = [...new Set(replies.map((reply) => reply.publication.recordKey))];
    records = await readRecords(trx, location, keys, { columns: [integration.responseField, integration.continueField] });
  } catch (error) {
    // The table may have been dropped or renamed: keep the replies in the log, write nothing.
    unreadable = `table '${integration.tableName}' cannot be read (${(error as Error).message})`;
  }
  const limit = unreadable ? null : await fieldCharacterLimit(trx, integration.tableName, integration.responseField);
  // Per record: what it holds, the entries it takes (oldest first) and the length it will have.
  // The field is built once at the end: a record with many replies is not copied for each one.
  const growing = new Map<string, { stored: string | null; entries: string[]; length: number }>();
  const log: NewCommunication[] = [];
  // One moment for the whole batch: they are committed together.
  const recordedAt = toIso(deps.clock.now());
  const paused = !unreadable && integration.status !== 'active';
  // Why a record takes no reply, worked out once per record: a record may have many.
  const refusals = new Map<string, string | null>();
  const recordRefusal = (key: string, record: Record<string, unknown> | undefined): string | null => {
    if (refusals.has(key)) return refusals.get(key) as string | null;
    const refusal = unreadable ?? (paused
      ? `the integration is paused${integration.pausedReason ? ` (${integration.pausedReason})` : ''}`
      : !record
        ? 'the record no longer exists'
        : !(integration.responseField in record)
          ? `the response field '${integration.responseField}' no longer exists in table '${integration.tableName}'`
          : continueRefusal(parseYesNo(record[integration.continueField])));
    refusals.set(key, refusal);
    return refusal;
  };
  for (const reply of replies) {
    const key = reply.publication.recordKey;
    const record = records.get(key);
    let refusal = recordRefusal(key, record);
    if (!refusal && record) {
      let field = growing.get(key);
      if (!field) {
        const stored = record[integration.responseField];
        const current = stored === null || stored === undefined ? null : String(stored);
        field = { stored: current, entries: [], length: current?.length ?? 0 };
        growing.set(key, field);
      }
      const entry = formatEntry({
        createdAt: reply.tweet.createdAt ?? toIso(deps.clock.now()),
        username: reply.tweet.authorUsername ?? reply.tweet.authorId ?? 'unknown',
        text: reply.tweet.text,
        media: reply.tweet.media,
      }, integration.timeZone);
      const length = lengthWithEntry(field.length, entry.length, integration.responseMode);
      if (limit !== null && length > limit) {
        refusal = `the response field '${integration.responseField}' holds at most ${limit} characters and this reply does not fit`;
      } else {
        field.entries.push(entry);
        field.length = length;
      }
    }
    log.push({
      integrationId: integration.id,
      publicationId: reply.publication.id,
      recordKey: key,
      direction: 'in',
      tweetId: reply.tweet.id,
      conversationId: reply.tweet.conversationId,
      inReplyToTweetId: reply.tweet.inReplyToTweetId,
      authorId: reply.tweet.authorId,
      authorUsername: reply.tweet.authorUsername,
      // The media as the entry names them, so the log (and a resume's catch-up) keeps them too.
      text: unescapeXText(reply.tweet.text) + mediaMarkers(reply.tweet.media),
      tweetCreatedAt: reply.tweet.createdAt,
      applied: !refusal,
      notAppliedReason: refusal ? `not written: ${refusal}` : null,
      // The pause alone held it back: the resume writes it in (a No or a missing record does not wait).
      heldUntilResume: paused,
      recordedAt,
    });
  }
  const newValues: Array<[string, string]> = [];
  for (const [key, field] of growing) {
    if (field.entries.length > 0) newValues.push([key, applyEntries(field.stored, field.entries, integration.responseMode)]);
  }
  await writeIsolated(trx, location, integration.responseField, newValues, (key, error) => {
    for (const entry of log) {
      if (entry.recordKey === key && entry.applied) {
        entry.applied = false;
        entry.notAppliedReason = `not written: the record could not be written (${error.message})`;
      }
    }
  });
  return log;
}

// Records written under one savepoint; one statement writes them all.
const RECORD_WRITE_GROUP = 200;

/**
 * One refused write (a read-only table, a full disk) must not undo the others: each group of
 * records is written under a savepoint, and a group that fails is written again one record at
 * a time, each under its own, to find the ones refused.
 */
async function writeIsolated(
  trx: Knex, location: RecordLocation, field: string, values: Array<[string, string]>, refused: (key: string, error: Error) => void,
): Promise<void> {
  for (let start = 0; start < values.length; start += RECORD_WRITE_GROUP) {
    const group = values.slice(start, start + RECORD_WRITE_GROUP);
    try {
      await trx.transaction((savepoint) => writeFields(savepoint, location, field, group));
    } catch {
      for (const [key, value] of group) {
        try {
          await trx.transaction((savepoint) => writeField(savepoint, location, key, field, value));
        } catch (error) {
          refused(key, error as Error);
        }
      }
    }
  }
}
