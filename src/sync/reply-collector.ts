import { continueRefusal, parseYesNo } from '../kb/yes-no';
import { readRecords, writeField } from '../kb/records';
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

  const mentions = await x.mentionsSince(account.xUserId, sinceId);
  const newestSeen = maxTweetId(mentions.map((tweet) => tweet.id));
  const candidates = mentions.filter((tweet) => tweet.authorId !== account.xUserId && tweet.conversationId);
  const matched = await matchToPublications(deps, candidates, integrations);

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
    for (const [, replies] of byIntegration) {
      const integration = replies[0].integration;
      const location = { table: integration.tableName, primaryKeyColumn: integration.primaryKeyColumn };
      const records = await readRecords(trx, location, [...new Set(replies.map((reply) => reply.publication.recordKey))]);
      const entriesByRecord = new Map<string, string[]>();
      for (const reply of replies) {
        const key = reply.publication.recordKey;
        const record = records.get(key);
        const refusal = integration.status !== 'active'
          ? `the integration is paused${integration.pausedReason ? ` (${integration.pausedReason})` : ''}`
          : !record
            ? 'the record no longer exists'
            : !(integration.responseField in record)
              ? `the response field '${integration.responseField}' no longer exists in table '${integration.tableName}'`
              : continueRefusal(parseYesNo(record[integration.continueField]));
        if (!refusal) {
          const entries = entriesByRecord.get(key) ?? [];
          entries.push(formatEntry({ createdAt: reply.tweet.createdAt ?? toIso(deps.clock.now()), username: reply.tweet.authorUsername ?? reply.tweet.authorId ?? 'unknown', text: reply.tweet.text }, integration.timeZone));
          entriesByRecord.set(key, entries);
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
          recordedAt: toIso(deps.clock.now()),
        });
      }
      for (const [key, entries] of entriesByRecord) {
        const record = records.get(key) as Record<string, unknown>;
        const current = record[integration.responseField];
        await writeField(trx, location, key, integration.responseField,
          applyEntries(current === null || current === undefined ? null : String(current), entries, integration.responseMode));
      }
    }
    await deps.communications.insert(trx, log);
    for (const entry of log) entry.applied ? counts.repliesApplied++ : counts.repliesLogged++;
    if (newestSeen && (!account.mentionsCursorId || compareTweetIds(newestSeen, account.mentionsCursorId) > 0)) {
      await deps.accounts.setMentionsCursor(trx, account.id, newestSeen);
    }
  });
  return counts;
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
