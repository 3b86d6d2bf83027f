import { continueRefusal, parseYesNo } from '../../kb/yes-no';
import { readRecords, type KbRecord } from '../../kb/records';
import { toIso } from '../../lib/clock';
import { UnreadableTableError } from '../../lib/errors';
import type { Account } from '../../store/accounts';
import type { Integration } from '../../store/integrations';
import type { NewCommunication } from '../../store/communications';
import type { Publication } from '../../store/publications';
import { XPermanentError } from '../../twitter/errors';
import { MAX_TWEET_WEIGHT, weightedLength } from '../../twitter/weighted-length';
import type { XClient } from '../../twitter/x-client';
import { afterMediaRefusal, mediaIdsForRecord } from '../../media/record-media-post';
import { planTweet } from '../long-text';
import type { SyncDeps } from '../sync-deps';
import type { AccountStop, ItemResult } from './decide';
import { nextClaimGroup, postExactlyOnce, type OutboundChannel, type OutboundLedger } from './post-once';

// The record-tweet kind of outbound item: a record's text posted as a tweet (or a thread), its
// state kept in kbts_publications. The posting rules themselves live in post-once.ts.

export interface PublishCounts {
  published: number;
  skipped: number;
  failed: number;
  deferred: number;
}

/** Why publishing for this account stopped early, if it did. */
export type PublishStop = null | AccountStop;

const RECORD_CHUNK = 100;

// Records begun together (moved to "sending" in one transaction), whose posts' writes are then
// committed together with the next group's beginning: one commit per post cost more than the post.
const GROUP = 20;

/** A post that went out: its log row, and what it changes in its record's publication. */
interface PostWrite {
  log: NewCommunication;
  publicationId: number;
  /** "root": a thread's first part is out; "sent": the record's last part is out. */
  mark: 'root' | 'sent' | null;
  rootTweetId: string;
}

/** The writes of posts that went out, held until the next commit. */
class PostWrites {
  private held: PostWrite[] = [];

  constructor(private readonly deps: SyncDeps) {}

  hold(write: PostWrite): void {
    this.held.push(write);
  }

  async commit(trx: SyncDeps['db']): Promise<void> {
    const writes = this.held;
    this.held = [];
    if (writes.length === 0) return;
    await this.deps.communications.with(trx).insert(writes.map((write) => write.log));
    const publications = this.deps.publications.with(trx);
    for (const write of writes) {
      if (write.mark === 'root') await publications.setRootTweet(write.publicationId, write.rootTweetId, write.log.recordedAt);
    }
    const sent = writes.filter((write) => write.mark === 'sent');
    await publications.markSentMany(sent.map((write) => ({ id: write.publicationId, tweetId: write.rootTweetId, at: write.log.recordedAt })));
  }

  async flush(): Promise<void> {
    if (this.held.length > 0) await this.deps.db.transaction((trx) => this.commit(trx));
  }
}

type Plan = { parts: string[] } | { final: 'skipped' | 'failed'; reason: string };

/**
 * Plans the next records (up to a group) and, in one transaction, commits the posts held so far,
 * settles the records that will not be tweeted, and claims the others ("sending") — each before
 * its call, as always. A crash leaves a claimed record in "sending", and its next attempt reconciles.
 */
async function claimGroup(
  deps: SyncDeps, integration: Integration, candidates: Publication[], records: Map<string, KbRecord>, writes: PostWrites,
): Promise<{ consumed: number; finals: Array<'skipped' | 'failed'>; begun: Array<{ publication: Publication; parts: string[] }>; attemptAt: string }> {
  const planned = nextClaimGroup<Publication, Plan>(
    candidates,
    (publication) => (publication.plannedParts ? { parts: publication.plannedParts } : planFirstAttempt(integration, records.get(publication.recordKey))),
    (plan) => ('parts' in plan ? plan.parts : null),
    GROUP,
  );
  const attemptAt = toIso(deps.clock.now());
  const toBegin = planned.flatMap(({ candidate, plan }) => ('parts' in plan ? [{ publication: candidate, parts: plan.parts }] : []));
  const finals = planned.flatMap(({ candidate, plan }) => ('final' in plan ? [{ publication: candidate, ...plan }] : []));
  const ours = await deps.db.transaction(async (trx) => {
    await writes.commit(trx);
    const publications = deps.publications.with(trx);
    for (const item of finals) await publications.markFinal(item.publication.id, item.final, item.reason, attemptAt);
    // Conditional on the state read: a record another worker moved is not ours.
    return publications.beginAttempts(toBegin, attemptAt);
  });
  const begun = toBegin.filter((item) => ours.has(item.publication.id));
  return { consumed: planned.length, finals: finals.map((item) => item.final), begun, attemptAt };
}

/**
 * Publishes the integration's due records: pending → sending → sent | failed | skipped.
 * An unknown outcome is reconciled against the account's own recent tweets before any retry.
 */
export async function publishDueRecords(
  deps: SyncDeps, integration: Integration, account: Account, x: XClient,
): Promise<{ counts: PublishCounts; stop: PublishStop }> {
  const counts: PublishCounts = { published: 0, skipped: 0, failed: 0, deferred: 0 };
  const due = await deps.publications.listDue(integration.id, toIso(deps.clock.now()), deps.settings.publishBatchSize);
  const location = { table: integration.tableName, primaryKeyColumn: integration.primaryKeyColumn };
  const writes = new PostWrites(deps);
  const channel = tweetChannel(account, x);
  // Claimed with their group but not attempted yet: given back if the cycle stops first.
  let unattempted: Publication[] = [];
  const giveBackUnattempted = async () => {
    const now = toIso(deps.clock.now());
    for (const publication of unattempted) await deps.publications.cancelAttempt(publication, now);
    unattempted = [];
  };
  try {
    // Records are read a chunk at a time: one query per chunk, and never long before their post.
    for (let start = 0; start < due.length; start += RECORD_CHUNK) {
      const chunk = due.slice(start, start + RECORD_CHUNK);
      // Only the fields planFirstAttempt reads: a media field (a BLOB perhaps) is read apart, in chunks.
      const columns = [integration.tweetField, integration.continueField];
      const records = await readRecords(deps.db, location, chunk.filter((p) => !p.plannedParts).map((p) => p.recordKey), { columns })
        .catch((error: Error) => {
          throw new UnreadableTableError(`cannot read records of table '${integration.tableName}': ${error.message}`);
        });
      for (let next = 0; next < chunk.length;) {
        const group = await claimGroup(deps, integration, chunk.slice(next), records, writes);
        next += group.consumed;
        for (const final of group.finals) counts[final]++;
        unattempted = group.begun.map((item) => item.publication);
        for (const { publication, parts } of group.begun) {
          unattempted.shift();
          const result = await publishClaimed(deps, integration, account, withRecordMedia(deps, integration, publication, x, channel), publication, parts, group.attemptAt, writes);
          deps.metrics?.post(integration.id, typeof result === 'string' ? result : result.kind);
          if (result === 'sent') counts.published++;
          else if (result === 'failed') counts.failed++;
          else if (result === 'deferred') counts.deferred++;
          else {
            await giveBackUnattempted();
            await writes.flush();
            return { counts, stop: result };
          }
        }
      }
    }
  } catch (error) {
    // Nothing held or claimed is dropped on the way out; the first error is the one to report.
    await giveBackUnattempted().catch(() => undefined);
    await writes.flush().catch(() => undefined);
    throw error;
  }
  await writes.flush();
  return { counts, stop: null };
}

/** The checks of a record that has not been attempted yet; a refusal says why in words. */
function planFirstAttempt(integration: Integration, record: KbRecord | undefined): Plan {
  if (!record) return { final: 'skipped', reason: 'the record was deleted before it was tweeted' };
  for (const [label, column] of [['tweet field', integration.tweetField], ['continue field', integration.continueField]] as const) {
    if (!(column in record)) {
      return { final: 'failed', reason: `the ${label} '${column}' no longer exists in table '${integration.tableName}'; edit the integration` };
    }
  }
  const refusal = continueRefusal(parseYesNo(record[integration.continueField]));
  if (refusal) return { final: 'skipped', reason: `not tweeted: the ${refusal}` };
  const plan = planTweet(record[integration.tweetField], integration.longTextPolicy);
  if (!plan.ok) return { final: 'failed', reason: plan.reason };
  return { parts: plan.parts };
}

/** Tweets, found again among the account's own timeline. */
export function tweetChannel(account: Account, x: XClient): OutboundChannel {
  return {
    send: async (text, inReplyTo, mediaIds) => {
      try {
        return await x.postTweet(text, inReplyTo, mediaIds);
      } catch (error) {
        throw explainLongPostRefusal(error, text);
      }
    },
    ownPostsSince: async (since) => (await x.ownTweetsSince(account.xUserId as string, since))
      .map((tweet) => ({ id: tweet.id, text: tweet.text, inReplyToId: tweet.inReplyToTweetId })),
  };
}

/** A record's media go with its first part (a thread's later parts are text). */
function withRecordMedia(deps: SyncDeps, integration: Integration, publication: Publication, x: XClient, channel: OutboundChannel): OutboundChannel {
  if (!integration.mediaField) return channel;
  return {
    ...channel,
    prepare: async (index) => (index === 0 ? mediaIdsForRecord(deps, integration, publication, x) : []),
    send: async (text, inReplyTo, mediaIds) => {
      try {
        return await channel.send(text, inReplyTo, mediaIds);
      } catch (error) {
        throw await afterMediaRefusal(deps, publication, mediaIds, error);
      }
    },
  };
}

/**
 * X refuses a long post from an account it does not allow them (no X Premium) with its generic
 * "too long": said in words, as the record's reason. The record fails, not the account: its
 * shorter records still post.
 */
function explainLongPostRefusal(error: unknown, text: string): unknown {
  if (!(error instanceof XPermanentError) || error.status !== 400 || weightedLength(text) <= MAX_TWEET_WEIGHT) return error;
  return new XPermanentError(
    `X refused a long post: this account may not post more than ${MAX_TWEET_WEIGHT} characters (long posts need X Premium); `
      + `give the account X Premium, or choose the long-text policy truncate or thread, then retry the record (${error.message})`,
    { status: error.status },
  );
}

/** A claimed record's tweet through the post-exactly-once unit, its state kept in its publication. */
async function publishClaimed(
  deps: SyncDeps, integration: Integration, account: Account, channel: OutboundChannel, publication: Publication, parts: string[],
  attemptAt: string, writes: PostWrites,
): Promise<ItemResult> {
  const now = () => toIso(deps.clock.now());
  // Only an attempt that went out before (a thread part, an unknown outcome) can have posts logged.
  const posted = publication.state === 'pending' ? [] : (await deps.communications.listForPublication(publication.id))
    .filter((entry) => entry.direction === 'out').map((entry) => entry.tweetId);
  const ids = [...posted];
  const ledger: OutboundLedger = {
    posted: (index, tweetId) => {
      ids[index] = tweetId;
      writes.hold({
        publicationId: publication.id,
        mark: index === parts.length - 1 ? 'sent' : index === 0 ? 'root' : null,
        rootTweetId: ids[0],
        log: {
          integrationId: integration.id,
          publicationId: publication.id,
          recordKey: publication.recordKey,
          direction: 'out',
          tweetId,
          conversationId: ids[0],
          inReplyToTweetId: index > 0 ? ids[index - 1] : null,
          authorId: account.xUserId,
          authorUsername: account.screenName,
          text: parts[index],
          tweetCreatedAt: null,
          applied: true,
          notAppliedReason: null,
          recordedAt: now(),
        },
      });
    },
    flush: () => writes.flush(),
    alreadyLogged: (tweetIds) => deps.communications.loggedTweetIds(tweetIds),
    settle: async ({ state, nextAttemptAt, reason }) => {
      if (state === 'failed') await deps.publications.markFinal(publication.id, 'failed', reason, now());
      else if (state === 'sending') await deps.publications.deferUnknown(publication.id, nextAttemptAt ?? now(), reason, now());
      else await deps.publications.returnToPending(publication.id, nextAttemptAt, reason, now());
    },
  };
  return postExactlyOnce(
    {
      parts, replyTo: null, posted, outcomeWasUnknown: publication.state === 'sending', startedAt: publication.attemptStartedAt ?? attemptAt,
      // The row as read before this attempt: it last changed when the earlier attempt ended (or began, after a crash).
      unknownSince: publication.state === 'sending' ? publication.updatedAt : null,
    },
    channel, ledger, deps.clock, {
      retryBaseMs: deps.settings.retryBaseMs, maxAttemptsPerCycle: deps.settings.maxPostAttemptsPerCycle,
      reconcileGraceMs: deps.settings.reconcileGraceSeconds * 1000,
    },
  );
}
