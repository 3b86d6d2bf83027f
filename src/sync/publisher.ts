import { continueRefusal, parseYesNo } from '../kb/yes-no';
import { readRecords, type KbRecord } from '../kb/records';
import { toIso } from '../lib/clock';
import type { Knex } from 'knex';
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

type Outcome = 'sent' | 'failed' | 'deferred' | Exclude<PublishStop, null>;

const RECORD_CHUNK = 100;

// How far before the first attempt reconciliation looks, for clock differences with X.
const RECONCILE_SKEW_MS = 60_000;

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

  async commit(trx: Knex): Promise<void> {
    const writes = this.held;
    this.held = [];
    if (writes.length === 0) return;
    await this.deps.communications.insert(trx, writes.map((write) => write.log));
    for (const write of writes) {
      if (write.mark === 'root') await this.deps.publications.setRootTweet(trx, write.publicationId, write.rootTweetId, write.log.recordedAt);
    }
    const sent = writes.filter((write) => write.mark === 'sent');
    await this.deps.publications.markSentMany(trx, sent.map((write) => ({ id: write.publicationId, tweetId: write.rootTweetId, at: write.log.recordedAt })));
  }

  async flush(): Promise<void> {
    if (this.held.length > 0) await this.deps.db.transaction((trx) => this.commit(trx));
  }
}

type Planned = { publication: Publication; parts: string[] } | { publication: Publication; final: 'skipped' | 'failed'; reason: string };

/**
 * Plans the next records (up to a group) and, in one transaction, commits the posts held so far,
 * settles the records that will not be tweeted, and moves the others to "sending" — each before
 * its call, as always. A crash leaves a begun record in "sending", and its next attempt reconciles.
 * Reconciliation tells unlogged posts apart by their text, so a group never holds two texts alike.
 */
async function beginGroup(
  deps: SyncDeps, integration: Integration, candidates: Publication[], records: Map<string, KbRecord>, writes: PostWrites,
): Promise<{ consumed: number; finals: Array<'skipped' | 'failed'>; begun: Array<{ publication: Publication; parts: string[] }>; attemptAt: string }> {
  const planned: Planned[] = [];
  const texts = new Set<string>();
  let begins = 0;
  for (const publication of candidates) {
    if (begins === GROUP) break;
    const plan = publication.plannedParts ? { parts: publication.plannedParts } : planFirstAttempt(integration, records.get(publication.recordKey));
    if ('parts' in plan) {
      const alike = plan.parts.map(comparable);
      if (alike.some((text) => texts.has(text))) break;
      for (const text of alike) texts.add(text);
      begins++;
    }
    planned.push({ publication, ...plan });
  }
  const attemptAt = toIso(deps.clock.now());
  const toBegin = planned.flatMap((item) => ('parts' in item ? [item] : []));
  const finals = planned.flatMap((item) => ('final' in item ? [item] : []));
  const ours = await deps.db.transaction(async (trx) => {
    await writes.commit(trx);
    for (const item of finals) await deps.publications.markFinal(item.publication.id, item.final, item.reason, attemptAt, trx);
    // Conditional on the state read: a record another worker moved is not ours.
    return deps.publications.beginAttempts(trx, toBegin, attemptAt);
  });
  const begun = toBegin.filter((item) => ours.has(item.publication.id));
  return { consumed: planned.length, finals: finals.map((item) => item.final), begun, attemptAt };
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
  // Begun with their group but not attempted yet: given back if the cycle stops first.
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
      const records = await readRecords(deps.db, location, chunk.filter((p) => !p.plannedParts).map((p) => p.recordKey))
        .catch((error: Error) => {
          throw new Error(`cannot read records of table '${integration.tableName}': ${error.message}`);
        });
      for (let next = 0; next < chunk.length;) {
        const group = await beginGroup(deps, integration, chunk.slice(next), records, writes);
        next += group.consumed;
        for (const final of group.finals) counts[final]++;
        unattempted = group.begun.map((item) => item.publication);
        for (const { publication, parts } of group.begun) {
          unattempted.shift();
          const outcome = await publishBegun(deps, integration, account, x, publication, parts, group.attemptAt, writes);
          if (outcome === 'sent') counts.published++;
          else if (outcome === 'failed') counts.failed++;
          else if (outcome === 'deferred') counts.deferred++;
          else {
            await giveBackUnattempted();
            await writes.flush();
            return { counts, stop: outcome };
          }
        }
      }
    }
  } catch (error) {
    // Nothing held or begun is dropped on the way out; the first error is the one to report.
    await giveBackUnattempted().catch(() => undefined);
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

/** Posts a record already moved to "sending" (its parts fixed), reconciling first when its last outcome is unknown. */
async function publishBegun(
  deps: SyncDeps, integration: Integration, account: Account, x: XClient, publication: Publication, parts: string[],
  attemptAt: string, writes: PostWrites,
): Promise<Outcome> {
  const now = () => toIso(deps.clock.now());
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
        const tweet = await x.postTweet(parts[index], index > 0 ? posted[index - 1] : null);
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
