import type { Knex } from 'knex';
import { describeKbTable } from '../db/dialect';
import { continueRefusal, parseYesNo } from '../kb/yes-no';
import { readRecords, writeField, writeFields, type RecordLocation } from '../kb/records';
import { toIso } from '../lib/clock';
import type { Account } from '../store/accounts';
import type { NewCommunication } from '../store/communications';
import type { Integration } from '../store/integrations';
import type { Publication } from '../store/publications';
import { compareTweetIds, maxTweetId, tweetIdBefore, tweetIdSecondsBefore } from '../twitter/snowflake';
import type { XClient, XTweet } from '../twitter/x-client';
import { applyEntries, formatEntry, unescapeXText } from './response-format';
import type { SyncDeps } from './sync-deps';

export interface CollectCounts {
  repliesApplied: number;
  repliesLogged: number;
}

interface MatchedReply {
  tweet: XTweet;
  publication: Publication;
  integration: Integration;
}

/**
 * One mentions read per account per tick covers every open conversation of every integration
 * on the account; replies are matched to records by conversation id, logged once each (unique
 * tweet id), written oldest first, and the cursor moves in the same transaction.
 */
export async function collectReplies(
  deps: SyncDeps, account: Account, integrations: Integration[], x: XClient,
): Promise<CollectCounts> {
  const counts: CollectCounts = { repliesApplied: 0, repliesLogged: 0 };
  if (!account.xUserId) return counts;
  const sinceId = await readWindowStart(deps, account, integrations);
  if (sinceId === undefined) return counts; // nothing was ever tweeted: no conversation to read

  const mentions = await readMentions(x, account, sinceId);
  const newestSeen = maxTweetId(mentions.map((tweet) => tweet.id));
  const candidates = mentions.filter((tweet) => tweet.authorId !== account.xUserId && tweet.conversationId);
  const matched = await matchToPublications(deps, candidates, integrations);
  matched.push(...await searchSubThreads(deps, account, integrations, x, matched, sinceId));

  await deps.db.transaction(async (trx) => {
    const alreadyLogged = await deps.communications.loggedTweetIds(trx, matched.map((reply) => reply.tweet.id));
    const fresh = matched.filter((reply) => !alreadyLogged.has(reply.tweet.id))
      .sort(oldestFirst);
    const byIntegration = new Map<number, MatchedReply[]>();
    for (const reply of fresh) {
      const group = byIntegration.get(reply.integration.id) ?? [];
      group.push(reply);
      byIntegration.set(reply.integration.id, group);
    }
    const log: NewCommunication[] = [];
    for (const replies of byIntegration.values()) {
      log.push(...await applyToRecords(deps, trx, replies));
    }
    await deps.communications.insert(trx, log);
    for (const entry of log) entry.applied ? counts.repliesApplied++ : counts.repliesLogged++;
    if (newestSeen && (!account.mentionsCursorId || compareTweetIds(newestSeen, account.mentionsCursorId) > 0)) {
      await deps.accounts.setMentionsCursor(trx, account.id, newestSeen);
    }
  });
  return counts;
}

// X serves only the 800 newest mentions, whatever since_id asks for.
const MENTIONS_REACH = 800;

/**
 * The account's mentions newer than sinceId. When X's mentions timeline stops at its reach,
 * the older rest (down to sinceId) is read by recent search for the account's @handle, so a
 * backlog of more than 800 replies is never skipped by the cursor.
 */
async function readMentions(x: XClient, account: Account, sinceId: string): Promise<XTweet[]> {
  const mentions = await x.mentionsSince(account.xUserId as string, sinceId);
  if (mentions.length < MENTIONS_REACH || !account.screenName) return mentions;
  let oldest = mentions[0].id;
  for (const tweet of mentions) if (compareTweetIds(tweet.id, oldest) < 0) oldest = tweet.id;
  const seen = new Set(mentions.map((tweet) => tweet.id));
  for (const tweet of await x.searchRecent(`@${account.screenName}`, sinceId, oldest)) {
    if (!seen.has(tweet.id)) {
      seen.add(tweet.id);
      mentions.push(tweet);
    }
  }
  return mentions;
}

/**
 * Writes one integration's replies into their records, oldest first, one entry at a time so
 * a reply that would overflow a length-limited field is logged instead of cutting anything.
 * Each record is written once. Returns the log rows, applied or with the reason they were not.
 */
async function applyToRecords(deps: SyncDeps, trx: Knex, replies: MatchedReply[]): Promise<NewCommunication[]> {
  const integration = replies[0].integration;
  const location = { table: integration.tableName, primaryKeyColumn: integration.primaryKeyColumn };
  let records = new Map<string, Record<string, unknown>>();
  let unreadable: string | null = null;
  try {
    records = await readRecords(trx, location, [...new Set(replies.map((reply) => reply.publication.recordKey))]);
  } catch (error) {
    // The table may have been dropped or renamed: keep the replies in the log, write nothing.
    unreadable = `table '${integration.tableName}' cannot be read (${(error as Error).message})`;
  }
  const limit = unreadable ? null : (await describeKbTable(trx, integration.tableName))?.columns
    .find((column) => column.name === integration.responseField)?.maxLength ?? null;
  const newValues = new Map<string, string>();
  const log: NewCommunication[] = [];
  // One moment for the whole batch: they are committed together.
  const recordedAt = toIso(deps.clock.now());
  for (const reply of replies) {
    const key = reply.publication.recordKey;
    const record = records.get(key);
    let refusal = unreadable ?? (integration.status !== 'active'
      ? `the integration is paused${integration.pausedReason ? ` (${integration.pausedReason})` : ''}`
      : !record
        ? 'the record no longer exists'
        : !(integration.responseField in record)
          ? `the response field '${integration.responseField}' no longer exists in table '${integration.tableName}'`
          : continueRefusal(parseYesNo(record[integration.continueField])));
    if (!refusal && record) {
      const stored = record[integration.responseField];
      const current = newValues.get(key) ?? (stored === null || stored === undefined ? null : String(stored));
      const entry = formatEntry({
        createdAt: reply.tweet.createdAt ?? toIso(deps.clock.now()),
        username: reply.tweet.authorUsername ?? reply.tweet.authorId ?? 'unknown',
        text: reply.tweet.text,
      }, integration.timeZone);
      const next = applyEntries(current, [entry], integration.responseMode);
      if (limit !== null && next.length > limit) {
        refusal = `the response field '${integration.responseField}' holds at most ${limit} characters and this reply does not fit`;
      } else {
        newValues.set(key, next);
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
      text: unescapeXText(reply.tweet.text),
      tweetCreatedAt: reply.tweet.createdAt,
      applied: !refusal,
      notAppliedReason: refusal ? `not written: ${refusal}` : null,
      recordedAt,
    });
  }
  await writeIsolated(trx, location, integration.responseField, [...newValues], (key, error) => {
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

// X's limit on a recent-search query.
const MAX_QUERY_LENGTH = 512;

/** `conversation_id:A OR conversation_id:B …` queries, each within X's length limit. */
export function conversationQueries(conversationIds: string[]): string[] {
  const queries: string[] = [];
  let current = '';
  for (const id of conversationIds) {
    const term = `conversation_id:${id}`;
    const candidate = current ? `${current} OR ${term}` : term;
    if (candidate.length > MAX_QUERY_LENGTH && current) {
      queries.push(current);
      current = term;
    } else {
      current = candidate;
    }
  }
  if (current) queries.push(current);
  return queries;
}

// A sub-thread with a reply this recent counts as a live discussion worth searching.
const LIVE_DISCUSSION_HOURS = 24;

/**
 * Replies inside a sub-thread (people answering each other rather than the account) may drop
 * the account's @mention, so the mentions read cannot see them all. Conversations where such a
 * sub-thread showed up (this tick, or logged in the last day) are searched with OR-ed
 * conversation ids, within X's 7-day window: the calls follow live discussions, never the
 * number of open conversations.
 */
async function searchSubThreads(
  deps: SyncDeps, account: Account, integrations: Integration[], x: XClient, matched: MatchedReply[], sinceId: string,
): Promise<MatchedReply[]> {
  const now = deps.clock.now();
  const branchingNow = matched
    .filter((reply) => reply.tweet.inReplyToUserId && reply.tweet.inReplyToUserId !== account.xUserId)
    .map((reply) => reply.tweet.conversationId as string);
  const branchingBefore = await deps.communications.conversationsWithSubThreads(
    integrations.map((integration) => integration.id),
    toIso(now.minus({ hours: LIVE_DISCUSSION_HOURS })),
  );
  const candidates = [...new Set([...branchingNow, ...branchingBefore])];
  if (candidates.length === 0) return [];
  const rootsSearchableSince = toIso(now.minus({ days: 7 }));
  const roots = await deps.publications.findSentByTweetIds(candidates);
  const conversations = roots
    .filter((publication) => (publication.sentAt ?? publication.createdAt) > rootsSearchableSince)
    .map((publication) => publication.tweetId as string);
  if (conversations.length === 0) return [];
  const seen = new Set(matched.map((reply) => reply.tweet.id));
  const found: XTweet[] = [];
  for (const query of conversationQueries(conversations)) {
    for (const tweet of await x.searchRecent(query, sinceId)) {
      if (!seen.has(tweet.id) && tweet.authorId !== account.xUserId && tweet.conversationId) {
        seen.add(tweet.id);
        found.push(tweet);
      }
    }
  }
  return matchToPublications(deps, found, integrations);
}

/** By the replies' own time, then by id (ids order by time too, but a clock may differ). */
function oldestFirst(a: MatchedReply, b: MatchedReply): number {
  const byTime = (a.tweet.createdAt ?? '').localeCompare(b.tweet.createdAt ?? '');
  return byTime !== 0 ? byTime : compareTweetIds(a.tweet.id, b.tweet.id);
}

/**
 * Mentions are read from a little behind the cursor (X can show a reply late), and never from
 * before the account's first tweet from the KB: nothing older can reply to a record.
 */
async function readWindowStart(deps: SyncDeps, account: Account, integrations: Integration[]): Promise<string | undefined> {
  if (account.mentionsCursorId) return tweetIdSecondsBefore(account.mentionsCursorId, deps.settings.replyOverlapSeconds);
  const firstTweet = await deps.communications.firstOutgoing(integrations.map((integration) => integration.id));
  return firstTweet ? tweetIdBefore(firstTweet) : undefined;
}

async function matchToPublications(deps: SyncDeps, tweets: XTweet[], integrations: Integration[]): Promise<MatchedReply[]> {
  const byId = new Map(integrations.map((integration) => [integration.id, integration]));
  const conversationIds = [...new Set(tweets.map((tweet) => tweet.conversationId as string))];
  const publications = await deps.publications.findSentByTweetIds(conversationIds);
  const byConversation = new Map<string, Publication>();
  for (const publication of publications) {
    if (publication.tweetId && byId.has(publication.integrationId)) byConversation.set(publication.tweetId, publication);
  }
  const matched: MatchedReply[] = [];
  for (const tweet of tweets) {
    const publication = byConversation.get(tweet.conversationId as string);
    // A tweet in a conversation the KB did not start changes no record.
    if (publication) matched.push({ tweet, publication, integration: byId.get(publication.integrationId) as Integration });
  }
  return matched;
}
