import {
  XAccountRefusedError, XDuplicateError, XRateLimitError, XTransientError, XUnknownOutcomeError, type XApiError,
} from '../../twitter/errors';
import { backoffDelay } from '../../twitter/x-client';

/**
 * Where in an outbound item's attempt an X call failed:
 * - before_send: a call the item makes before its post (a media upload, a lookup); nothing was posted by it;
 * - post: the post itself;
 * - reconcile: reading the account's own recent posts to learn whether an unknown outcome was a post.
 */
export type OutboundPhase = 'before_send' | 'post' | 'reconcile';

/** Why the account's work stops for this cycle. */
export type AccountStop = { kind: 'rate_limit'; until: string } | { kind: 'account_refused'; reason: string };

/** What became of one item in this cycle. */
export type ItemResult = 'sent' | 'failed' | 'deferred' | AccountStop;

/** The item's state after the attempt, with when to try again and the reason people see. */
export interface Settlement {
  state: 'pending' | 'sending' | 'failed';
  nextAttemptAt: string | null;
  reason: string;
  result: Exclude<ItemResult, 'sent'>;
}

export type NextStep =
  /** The post may exist: look for it among the account's recent posts; found means posted. */
  | { step: 'reconcile'; ifNotFound: NextStep }
  /** Post the same part again in this cycle, after a pause. */
  | { step: 'retry'; afterMs: number }
  | ({ step: 'settle' } & Settlement);

export interface DecisionContext {
  /**
   * A post of this item may already be out (its last outcome was unknown, or a thread part is
   * out): it then stays "sending", so its next attempt reconciles before posting.
   */
  mayHavePosted: boolean;
  /** Unknown outcomes met by this item's current part in this cycle, this one included. */
  unknownAttempts: number;
  maxAttemptsPerCycle: number;
  partIndex: number;
  partCount: number;
  /** When the item's first attempt began (reconciliation looks from there). */
  startedAt: string;
  nowMs: number;
  retryBaseMs: number;
  /** 0..1, the backoff's random share, passed in so that the decision stays pure. */
  jitter: number;
}

/**
 * After an unknown outcome, a post not found among the account's own posts may be one X has not
 * shown there yet (it does so late), and X's duplicate refusal may not fire: until the grace
 * period has passed since the attempt, the item waits "sending" and is looked for again, never
 * posted again. Null once "not found" means "not posted".
 */
export function waitForLatePost(unknownSinceMs: number | null, nowMs: number, graceMs: number): Settlement | null {
  if (unknownSinceMs === null || Number.isNaN(unknownSinceMs) || nowMs - unknownSinceMs >= graceMs) return null;
  const lookAgainAt = new Date(unknownSinceMs + graceMs).toISOString();
  return {
    state: 'sending',
    nextAttemptAt: lookAgainAt,
    reason: `X's answer to the post was lost and the post is not among the account's posts yet; X can show a new post late, so it is looked for again at ${lookAgainAt} before any new attempt`,
    result: 'deferred',
  };
}

// When X gives no reset time with a 429, the length of its rate-limit window.
const RATE_WINDOW_MS = 15 * 60_000;

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * This error, in this phase → the item's next state and when to try again. Pure: the same
 * error and context always give the same step, so every case is unit-tested.
 */
export function decideAfterError(error: XApiError, phase: OutboundPhase, context: DecisionContext): NextStep {
  const { nowMs } = context;
  const backoff = (attempt: number) => backoffDelay(context.retryBaseMs, attempt, context.jitter);

  if (phase === 'reconcile') {
    // Whether the post exists is still unknown: the item stays "sending" whatever happens.
    const settle = (nextAttemptAt: string, reason: string, result: Settlement['result']): NextStep =>
      ({ step: 'settle', state: 'sending', nextAttemptAt, reason, result });
    if (error instanceof XAccountRefusedError) return settle(iso(nowMs), error.message, { kind: 'account_refused', reason: error.message });
    const reason = `could not check whether the post was created: ${error.message}`;
    if (error instanceof XRateLimitError) {
      const until = iso(error.resetAt ?? nowMs + backoff(2));
      return settle(until, reason, { kind: 'rate_limit', until });
    }
    return settle(iso(nowMs + backoff(2)), reason, 'deferred');
  }

  // Nothing was created by this call: the item goes back as it was, to wait or to be checked.
  const giveBack = (nextAttemptAt: string | null, reason: string, result: Settlement['result']): NextStep => (context.mayHavePosted
    ? { step: 'settle', state: 'sending', nextAttemptAt: nextAttemptAt ?? iso(nowMs), reason, result }
    : { step: 'settle', state: 'pending', nextAttemptAt, reason, result });
  const fail = (reason: string): NextStep => ({ step: 'settle', state: 'failed', nextAttemptAt: null, reason, result: 'failed' });

  if (error instanceof XRateLimitError) {
    const until = iso(error.resetAt ?? nowMs + RATE_WINDOW_MS);
    return giveBack(until, 'waiting for the X rate limit to reset', { kind: 'rate_limit', until });
  }
  // 401, 403 for the account, 402 credits used up: the account's work pauses, the item waits untouched.
  if (error instanceof XAccountRefusedError) return giveBack(null, error.message, { kind: 'account_refused', reason: error.message });

  if (phase === 'before_send') {
    if (error instanceof XTransientError || error instanceof XUnknownOutcomeError) {
      return giveBack(iso(nowMs + backoff(2)), `could not prepare the post: ${error.message}`, 'deferred');
    }
    return fail(error.message);
  }

  if (error instanceof XDuplicateError) {
    return {
      step: 'reconcile',
      ifNotFound: fail(`X refused the text as a duplicate of an earlier post by the account, and this record's post was not found among the account's tweets since ${context.startedAt}`),
    };
  }
  // A write X may have applied (or, should one come, a transient refusal: retrying is safe either way).
  if (error instanceof XUnknownOutcomeError || error instanceof XTransientError) {
    const attempt = context.unknownAttempts;
    return {
      step: 'reconcile',
      ifNotFound: attempt >= context.maxAttemptsPerCycle
        ? { step: 'settle', state: 'sending', nextAttemptAt: iso(nowMs + backoff(attempt)), reason: `outcome unknown, will check and retry: ${error.message}`, result: 'deferred' }
        : { step: 'retry', afterMs: backoff(attempt) },
    };
  }
  return fail(context.partIndex === 0 ? error.message : `part ${context.partIndex + 1} of ${context.partCount} of the thread was refused: ${error.message}`);
}
