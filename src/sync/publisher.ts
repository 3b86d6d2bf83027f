import { continueRefusal, parseYesNo } from '../kb/yes-no';
import { readRecords, type KbRecord } from '../kb/records';
import { toIso } from '../lib/clock';
import type { Account } from '../store/accounts';
import type { Integration } from '../store/integrations';
import type { NewCommunication } from '../store/communications';
import type { Publication } from '../store/publications';
import { XApiError } from '../twitter/errors';
import { backoffDelay, type XClient } from '../twitter/x-client';
import { planTweet } from './long-text';
import { unescapeXText } from './response-format';
import type { SyncDeps } from './sync-deps';

export interface PublishCounts {
  published: number;
  skipped: number;
  failed: number;
  deferred: number;
}

/** Why publishing for this account stopped early, if it did. */
export type PublishStop = null | { kind: 'rate_limit'; until: string } | { kind: 'account_refused'; reason: string };

type Outcome = 'sent' | 'skipped' | 'failed' | 'deferred' | 'not_mine' | PublishStop;

const RECORD_CHUNK = 100;

// How far before the first attempt reconciliation looks, for clock differences with X.
const RECONCILE_SKEW_MS = 60_000;

// Posts whose log row and state are written together, in one transaction.
const WRITE_GROUP = 20;

/** A post that went out: its log row, and what it changes in its record's publication. */
interface PostWrite {
  log: NewCommunication;
  publicationId: number;
  /** "root": a thread's first part is out; "sent": the record's last part is out. */
  mark: 'root' | 'sent' | null;
  rootTweetId: string;
}

/**
 * Holds the writes of posts that went out and commits them a group at a time, while the next
 * post is on its way to X: one commit per post cost more than the post. What is committed
 * before each call is unchanged (the record's move to "sending"); a crash before the group's
 * commit leaves its records in "sending", and the next attempt finds their tweets by
 * reconciliation, as after any lost answer.
 */
class PostWrites {
  private held: PostWrite[] = [];
  private heldTexts = new Set<string>();

  constructor(private readonly deps: SyncDeps) {}

  hold(write: PostWrite): void {
    this.held.push(write);
    this.heldTexts.add(comparable(write.log.text));
  }

  /**
   * Reconciliation tells posts apart by their text, so two unlogged posts must never read
   * alike: a text like a held one is posted only after the group is committed.
   */
  async flushIfHolding(text: string): Promise<void> {
    if (this.heldTexts.has(comparable(text))) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.held.length === 0) return;
    const writes = this.held;
    this.held = [];
    this.heldTexts = new Set();
    await this.deps.db.transaction(async (trx) => {
      await this.deps.communications.insert(trx, writes.map((write) => write.log));
      for (const write of writes) {
        if (write.mark === 'root') await this.deps.publications.setRootTweet(trx, write.publicationId, write.rootTweetId, write.log.recordedAt);
        if (write.mark === 'sent') await this.deps.publications.markSent(trx, write.publicationId, write.rootTweetId, write.log.recordedAt);
      }
    });
  }

  /** Commits a full group once the request is on the wire, a turn of the event loop later. */
  async flushDuring(request: Promise<unknown>): Promise<void> {
    if (this.held.length < WRITE_GROUP) return;
    // The request's own outcome is read by whoever awaits it.
    request.catch(() => undefined);
    await new Promise((resolve) => setImmediate(resolve));
    await this.flush();
  }
}

/** X may rewrite links (t.co) and escapes &, < and >: compare what a person would read. */
function comparable(text: string): string {
  return unescapeXText(text).normalize('NFC').replace(/https?:\/\/\S+/g, 'URL').replace(/\s+/g, ' ').trim();
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
  try {
    // Records are read a chunk at a time: one query per chunk, and never long before their post.
    for (let start = 0; start < due.length; start += RECORD_CHUNK) {
      const chunk = due.slice(start, start + RECORD_CHUNK);
      const records = await readRecords(deps.db, location, chunk.filter((p) => !p.plannedParts).map((p) => p.recordKey))
        .catch((error: Error) => {
          throw new Error(`cannot read records of table '${integration.tableName}': ${error.message}`);
        });
      for (const publication of chunk) {
        const outcome = await publishOne(deps, integration, account, x, publication, records.get(publication.recordKey), writes);
        if (outcome === 'sent') counts.published++;
        else if (outcome === 'skipped') counts.skipped++;
        else if (outcome === 'failed') counts.failed++;
        else if (outcome === 'deferred') counts.deferred++;
        else if (outcome !== 'not_mine' && outcome !== null) {
          await writes.flush();
          return { counts, stop: outcome };
        }
      }
    }
  } catch (error) {
    // The last post's write is still worth keeping; the first error is the one to report.
    await writes.flush().catch(() => undefined);
    throw error;
  }
  await writes.flush();
  return { counts, stop: null };
}

/** The checks of a record that has not been attempted yet; a refusal says why in words. */
function planFirstAttempt(integration: Integration, record: KbRecord | undefined): { parts: string[] } | { final: 'skipped' | 'failed'; reason: string } {
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

async function publishOne(
  deps: SyncDeps, integration: Integration, account: Account, x: XClient, publication: Publication, record: KbRecord | undefined,
  writes: PostWrites,
): Promise<Outcome> {
  const now = () => toIso(deps.clock.now());
  let parts = publication.plannedParts;
  if (!parts) {
    const plan = planFirstAttempt(integration, record);
    if ('final' in plan) {
      await deps.publications.markFinal(publication.id, plan.final, plan.reason, now());
      return plan.final;
    }
    parts = plan.parts;
  }
  const attemptAt = now();
  if (!(await deps.publications.beginAttempt(publication, parts, attemptAt))) return 'not_mine';
  const startedAt = publication.attemptStartedAt ?? attemptAt;
  // Only an attempt that went out before (a thread part, an unknown outcome) can have posts logged.
  const posted = publication.state === 'pending' ? [] : (await deps.communications.listForPublication(publication.id))
    .filter((entry) => entry.direction === 'out').map((entry) => entry.tweetId);
  const outcomeWasUnknown = publication.state === 'sending';

  const recordPosted = (tweetId: string) => {
    const index = posted.length;
    posted.push(tweetId);
    const last = posted.length === parts.length;
    writes.hold({
      publicationId: publication.id,
      mark: last ? 'sent' : index === 0 ? 'root' : null,
      rootTweetId: posted[0],
      log: {
        integrationId: integration.id,
        publicationId: publication.id,
        recordKey: publication.recordKey,
        direction: 'out',
        tweetId,
        conversationId: posted[0],
        inReplyToTweetId: index > 0 ? posted[index - 1] : null,
        authorId: account.xUserId,
        authorUsername: account.screenName,
        text: parts[index],
        tweetCreatedAt: null,
        applied: true,
        notAppliedReason: null,
        recordedAt: now(),
      },
    });
  };

  const reconcile = async (): Promise<boolean> => {
    // Posts held back must be logged first, or one could look like nobody's tweet.
    await writes.flush();
    const since = new Date(Date.parse(startedAt) - RECONCILE_SKEW_MS).toISOString();
    const ownTweets = await x.ownTweetsSince(account.xUserId as string, since);
    // A tweet already logged belongs to another record with the same text, never to this one.
    const taken = await deps.communications.loggedTweetIds(deps.db, ownTweets.map((tweet) => tweet.id));
    let found = false;
    for (let index = posted.length; index < parts.length; index++) {
      const parent = index > 0 ? posted[index - 1] : null;
      const match = ownTweets.find((tweet) => comparable(tweet.text) === comparable(parts[index])
        && (parent === null || tweet.inReplyToTweetId === parent) && !taken.has(tweet.id) && !posted.includes(tweet.id));
      if (!match) break;
      recordPosted(match.id);
      found = true;
    }
    return found;
  };

  const giveBack = async (nextAttemptAt: string | null, reason: string) => {
    if (outcomeWasUnknown || posted.length > 0) await deps.publications.deferUnknown(publication.id, nextAttemptAt ?? now(), reason, now());
    else await deps.publications.returnToPending(publication.id, nextAttemptAt, reason, now());
  };

  try {
    if (outcomeWasUnknown) await reconcile();
    let attempt = 0;
    while (posted.length < parts.length) {
      const index = posted.length;
      try {
        await writes.flushIfHolding(parts[index]);
        const posting = x.postTweet(parts[index], index > 0 ? posted[index - 1] : null);
        await writes.flushDuring(posting);
        const tweet = await posting;
        recordPosted(tweet.id);
        attempt = 0;
      } catch (caught) {
        // Whatever this record's state becomes, it is written after its earlier posts.
        await writes.flush();
        const error = caught as XApiError;
        if (!(error instanceof XApiError)) throw error;
        if (error.kind === 'unknown_outcome' || error.kind === 'duplicate') {
          if (await reconcile()) continue;
          if (error.kind === 'duplicate') {
            const reason = `X refused the text as a duplicate of an earlier post by the account, and this record's post was not found among the account's tweets since ${startedAt}`;
            await deps.publications.markFinal(publication.id, 'failed', reason, now());
            return 'failed';
          }
          attempt++;
          if (attempt >= deps.settings.maxPostAttemptsPerCycle) {
            const next = deps.clock.now().plus({ milliseconds: backoffDelay(deps.settings.retryBaseMs, attempt) });
            await deps.publications.deferUnknown(publication.id, toIso(next), `outcome unknown, will check and retry: ${error.message}`, now());
            return 'deferred';
          }
          await deps.clock.sleep(backoffDelay(deps.settings.retryBaseMs, attempt));
          continue;
        }
        if (error.kind === 'rate_limit') {
          const until = error.resetAt ? new Date(error.resetAt).toISOString() : toIso(deps.clock.now().plus({ minutes: 15 }));
          await giveBack(until, 'waiting for the X rate limit to reset');
          return { kind: 'rate_limit', until };
        }
        if (error.kind === 'auth' || error.kind === 'access') {
          await giveBack(null, error.message);
          return { kind: 'account_refused', reason: error.message };
        }
        const reason = index === 0 ? error.message : `part ${index + 1} of ${parts.length} of the thread was refused: ${error.message}`;
        await deps.publications.markFinal(publication.id, 'failed', reason, now());
        return 'failed';
      }
    }
    return 'sent';
  } catch (caught) {
    // Reads during reconciliation can fail too; the attempt stays unknown and is checked next time.
    if (caught instanceof XApiError) {
      await writes.flush();
      if (caught.kind === 'auth' || caught.kind === 'access') {
        await deps.publications.deferUnknown(publication.id, now(), caught.message, now());
        return { kind: 'account_refused', reason: caught.message };
      }
      const next = caught.kind === 'rate_limit' && caught.resetAt
        ? new Date(caught.resetAt).toISOString()
        : toIso(deps.clock.now().plus({ milliseconds: backoffDelay(deps.settings.retryBaseMs, 2) }));
      await deps.publications.deferUnknown(publication.id, next, `could not check whether the post was created: ${caught.message}`, now());
      return caught.kind === 'rate_limit' ? { kind: 'rate_limit', until: next } : 'deferred';
    }
    throw caught;
  }
}
