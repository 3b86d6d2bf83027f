import crypto from 'node:crypto';
import { readRecords } from '../../kb/records';
import { toIso } from '../../lib/clock';
import { NotFoundError, UnreadableTableError, UserFacingError, ValidationError, errorMessage } from '../../lib/errors';
import type { Account } from '../../store/accounts';
import { AgentReplyStore, TalkbackSettingsStore, type AgentReply } from '../../store/agent-replies';
import type { NewCommunication } from '../../store/communications';
import type { Integration } from '../../store/integrations';
import type { Publication } from '../../store/publications';
import type { UserStore } from '../../store/users';
import { XPermanentError } from '../../twitter/errors';
import type { XClient } from '../../twitter/x-client';
import { agentInitials, composeReply, replySuffix, replyTextProblem } from '../agent-reply-text';
import { applyToRecords } from '../inbound/ingest';
import type { SyncDeps } from '../sync-deps';
import type { SyncSignals } from '../wake';
import type { ItemResult } from './decide';
import { postExactlyOnce, type OutboundChannel, type OutboundLedger } from './post-once';
import { tweetChannel } from './record-tweets';

// The agent-reply kind of outbound item: what an editor answers from the record, posted as a
// reply to a tweet of the record's conversation, its state kept in kbts_agent_replies. The
// posting rules themselves live in post-once.ts; this file queues, claims and keeps.

/** What queueing a reply needs: the stores it checks against, and the signal that wakes this process's publisher. */
export type AgentReplyDeps = Pick<SyncDeps, 'db' | 'clock' | 'integrations' | 'publications' | 'communications' | 'accounts'> & {
  users: UserStore;
  signals?: SyncSignals;
};

export interface AgentReplyRequest {
  integrationId: number;
  recordKey: string;
  /** What the person typed; the initials and the DM link are added as the integration says. */
  text: unknown;
  /** The tweet answered: the record's tweet when absent, or any tweet logged in its conversation. */
  inReplyToTweetId?: string | null;
  userId: number;
  /** The same request sent again (a double click, a retry) carries the same key and finds its reply. */
  idempotencyKey: string;
}

/** A refusal of the request as a whole (paused, record gone, not tweeted): nothing was queued. */
class ReplyRefused extends UserFacingError {
  constructor(message: string) {
    super('refused', message, { status: 409 });
  }
}

/** What the reply will carry after the typed text, for this user on this integration. */
export async function replySignatureFor(deps: Pick<AgentReplyDeps, 'db' | 'accounts'>, integration: Integration, user: { id: number; username: string }): Promise<{ initials: string; suffix: string }> {
  const settings = new TalkbackSettingsStore(deps.db);
  const switches = await settings.switches(integration.id);
  const initials = agentInitials((await settings.displayName(user.id)) ?? user.username);
  const account = switches.dmDeepLink ? await deps.accounts.get(integration.accountId) : undefined;
  return {
    initials,
    suffix: replySuffix({ initials: switches.agentInitials ? initials : null, dmRecipientId: account?.xUserId ?? null }),
  };
}

/** The tweets a reply from this record may answer: the record's tweet (a thread's parts) and the replies logged with it. */
export async function recordConversation(deps: Pick<AgentReplyDeps, 'communications'>, publication: Publication): Promise<Set<string>> {
  const ids = new Set<string>(publication.tweetId ? [publication.tweetId] : []);
  for (const entry of await deps.communications.listForPublication(publication.id)) ids.add(entry.tweetId);
  return ids;
}

/**
 * Queues an agent's reply from a record, after every check a person can act on (role, paused
 * integration, record gone, record not on X, a tweet outside its conversation, the text), each
 * refused in words with nothing queued. The running daemons are woken at once (this process by
 * its signal, others by the database's news), and `poll --once` posts it too. Asking again with the
 * same key answers with the reply already queued (`created` false).
 */
export async function queueAgentReply(deps: AgentReplyDeps, request: AgentReplyRequest): Promise<{ reply: AgentReply; created: boolean }> {
  const user = await deps.users.get(request.userId);
  if (!user || (user.role !== 'admin' && user.role !== 'editor')) {
    throw new UserFacingError('forbidden', `your role (${user?.role ?? 'none'}) does not allow replying from a record: editors and admins reply; nothing was sent`, { status: 403 });
  }
  const key = typeof request.idempotencyKey === 'string' ? request.idempotencyKey.trim() : '';
  if (!/^[\x21-\x7e]{1,200}$/.test(key)) throw new ValidationError('the idempotency key must be 1 to 200 printable characters without spaces', 'idempotency_key');
  const integration = await deps.integrations.get(request.integrationId);
  if (!integration) throw new NotFoundError(`integration ${request.integrationId} does not exist`);
  if (integration.status !== 'active') {
    throw new ReplyRefused(`integration ${integration.id} is paused${integration.pausedReason ? ` (${integration.pausedReason})` : ''}: resume it before replying; nothing was sent`);
  }
  const location = { table: integration.tableName, primaryKeyColumn: integration.primaryKeyColumn };
  const records = await readRecords(deps.db, location, [request.recordKey], { columns: [] }).catch((error: Error) => {
    throw new UnreadableTableError(`cannot read table '${integration.tableName}': ${error.message}`);
  });
  if (!records.has(request.recordKey)) throw new NotFoundError(`record ${request.recordKey} no longer exists in table '${integration.tableName}'; nothing was sent`);
  const publication = await deps.publications.findByRecord(integration.id, request.recordKey);
  if (!publication) throw new ReplyRefused(`record ${request.recordKey} was never tweeted by integration ${integration.id} (it existed before the integration), so there is no conversation to answer`);
  if (!publication.tweetId) {
    throw new ReplyRefused(publication.state === 'failed' || publication.state === 'skipped'
      ? `record ${request.recordKey}'s tweet ${publication.state === 'failed' ? 'failed' : 'was skipped'}${publication.reason ? ` (${publication.reason})` : ''}, so there is nothing on X to answer; nothing was sent`
      : `record ${request.recordKey}'s tweet is not out yet (${publication.state}); reply once it is sent`);
  }
  const target = request.inReplyToTweetId === undefined || request.inReplyToTweetId === null || request.inReplyToTweetId === ''
    ? publication.tweetId : String(request.inReplyToTweetId).trim();
  if (!(await recordConversation(deps, publication)).has(target)) {
    throw new ValidationError(`tweet ${target} is not part of record ${request.recordKey}'s conversation (its tweet and the replies logged with it); a reply goes only there, and nothing was sent`, 'in_reply_to_tweet_id');
  }
  const { initials, suffix } = await replySignatureFor(deps, integration, user);
  const problem = replyTextProblem(request.text, suffix);
  if (problem) throw new ValidationError(problem, 'text');
  const body = (request.text as string).trim();
  const text = composeReply(body, suffix);
  const contentKey = crypto.createHash('sha256').update(JSON.stringify([integration.id, target, text])).digest('hex');
  const store = new AgentReplyStore(deps.db);
  const queued = await store.queue({
    integrationId: integration.id, recordKey: request.recordKey, publicationId: publication.id, inReplyToTweetId: target,
    body, text, userId: user.id, username: user.username, initials, idempotencyKey: key, contentKey,
  }, toIso(deps.clock.now()));
  // Committed: the publisher of this process posts it now, and other processes' hear of it.
  if (queued.created) {
    deps.signals?.recordsChanged(integration.tableName);
    await store.announce(integration.id);
  }
  return queued;
}

// Replies posted per account per run, so one run stays bounded; the rest go next run.
const REPLY_BATCH = 100;

/**
 * The account's due agent replies, one at a time (people type them: they are few): each
 * claimed before its call and posted through the post-exactly-once unit. Returns X's refusal
 * of the account, if any; a rate limit stops the run and is noted on the account.
 */
export async function postDueAgentReplies(deps: SyncDeps, account: Account, integrations: Integration[], x: XClient): Promise<string | null> {
  const active = new Map(integrations.filter((integration) => integration.status === 'active').map((integration) => [integration.id, integration]));
  const store = new AgentReplyStore(deps.db);
  const due = await store.listDue([...active.keys()], toIso(deps.clock.now()), REPLY_BATCH);
  const channel = replyChannel(account, x);
  const changed = new Set<number>();
  try {
    for (const reply of due) {
      const integration = active.get(reply.integrationId) as Integration;
      const now = toIso(deps.clock.now());
      if (reply.state === 'pending' && !(await recordStillThere(deps, integration, reply))) {
        await store.markFailed(reply.id, 'the record was deleted before the reply was sent; nothing was posted', now);
        changed.add(integration.id);
        continue;
      }
      if (!(await store.begin(reply, now))) continue; // another worker moved it
      const result = await postClaimed(deps, store, integration, account, channel, reply, now);
      changed.add(integration.id);
      if (typeof result === 'string') continue;
      if (result.kind === 'rate_limit') {
        await deps.accounts.setRateLimitedUntil(account.id, result.until);
        return null;
      }
      return result.reason;
    }
    return null;
  } finally {
    for (const id of changed) deps.signals.publicationsChanged(id);
  }
}

async function recordStillThere(deps: SyncDeps, integration: Integration, reply: AgentReply): Promise<boolean> {
  const location = { table: integration.tableName, primaryKeyColumn: integration.primaryKeyColumn };
  try {
    return (await readRecords(deps.db, location, [reply.recordKey], { columns: [] })).has(reply.recordKey);
  } catch (error) {
    throw new UnreadableTableError(`cannot read records of table '${integration.tableName}': ${errorMessage(error)}`);
  }
}

/** X's self-serve reply rule, recognised in its 403 and said in words. */
const REPLY_RULE = /not been mentioned|engaged by the author|reply to this conversation is not allowed/i;

/** Tweets, as for records; X's refusal of a reply the account may not make is said in words. */
function replyChannel(account: Account, x: XClient): OutboundChannel {
  const tweets = tweetChannel(account, x);
  return {
    send: async (text, inReplyTo) => {
      try {
        return await tweets.send(text, inReplyTo);
      } catch (error) {
        if (error instanceof XPermanentError && error.status === 403 && REPLY_RULE.test(error.message)) {
          throw new XPermanentError(
            `X does not allow this reply: with self-serve API access an account may only reply to a post whose author mentioned or quoted @${account.screenName ?? 'the account'}; `
              + `answer this one from an X client, or reply to a post in the conversation that mentions the account (${error.message})`,
            { status: 403 },
          );
        }
        throw error;
      }
    },
    ownPostsSince: tweets.ownPostsSince,
  };
}

/**
 * A claimed reply through the post-exactly-once unit. Once it is out, its log row (outgoing,
 * with the user who wrote it), its entry in the record's response field and its "sent" are
 * committed together, so a crash before that commit leaves it "sending" and its next attempt
 * finds it among the account's posts instead of posting it again.
 */
async function postClaimed(
  deps: SyncDeps, store: AgentReplyStore, integration: Integration, account: Account, channel: OutboundChannel, reply: AgentReply, attemptAt: string,
): Promise<ItemResult> {
  const now = () => toIso(deps.clock.now());
  let held: string | null = null;
  const publication = await deps.publications.get(reply.publicationId);
  const ledger: OutboundLedger = {
    posted: (_index, tweetId) => { held = tweetId; },
    flush: async () => {
      const tweetId = held;
      if (tweetId === null) return;
      await deps.db.transaction(async (trx) => {
        const sentAt = now();
        if (!(await deps.communications.with(trx).loggedTweetIds([tweetId])).has(tweetId)) {
          await deps.communications.with(trx).insert([await keptInRecord(deps, trx, integration, account, reply, publication, tweetId, sentAt)]);
        }
        await store.with(trx).markSent(reply.id, tweetId, sentAt);
      });
      held = null;
    },
    alreadyLogged: (tweetIds) => deps.communications.loggedTweetIds(tweetIds),
    settle: async ({ state, nextAttemptAt, reason }) => {
      if (state === 'failed') await store.markFailed(reply.id, reason, now());
      else if (state === 'sending') await store.deferUnknown(reply.id, nextAttemptAt ?? now(), reason, now());
      else await store.returnToPending(reply.id, nextAttemptAt, reason, now());
    },
  };
  const result = await postExactlyOnce(
    {
      parts: [reply.text], replyTo: reply.inReplyToTweetId, posted: [], outcomeWasUnknown: reply.state === 'sending',
      startedAt: reply.attemptStartedAt ?? attemptAt, unknownSince: reply.state === 'sending' ? reply.updatedAt : null,
    },
    channel, ledger, deps.clock, {
      retryBaseMs: deps.settings.retryBaseMs, maxAttemptsPerCycle: deps.settings.maxPostAttemptsPerCycle,
      reconcileGraceMs: deps.settings.reconcileGraceSeconds * 1000,
    },
  );
  await ledger.flush();
  return result;
}

/**
 * The reply's entry in the record's response field, in the integration's mode and format and
 * marked as the account's with the agent's initials (`@kbdesk (J.D): …`), written by the
 * ingestion's own writer (so the continue field, a missing field and a full field are judged
 * as for any reply); returns its log row.
 */
async function keptInRecord(
  deps: SyncDeps, trx: SyncDeps['db'], integration: Integration, account: Account, reply: AgentReply, publication: Publication | undefined, tweetId: string, sentAt: string,
): Promise<NewCommunication> {
  const conversationId = publication?.tweetId ?? null;
  const [entry] = await applyToRecords(deps, trx, [{
    integration,
    publication: { id: reply.publicationId, recordKey: reply.recordKey },
    tweet: {
      id: tweetId, text: reply.body, authorId: account.xUserId, authorUsername: `${account.screenName ?? account.xUserId ?? 'account'} (${reply.initials})`,
      createdAt: sentAt, conversationId, inReplyToTweetId: reply.inReplyToTweetId, inReplyToUserId: null,
    },
  }]);
  return {
    ...entry, direction: 'out', text: reply.text, authorUsername: account.screenName, heldUntilResume: false, writtenBy: reply.username,
  };
}
