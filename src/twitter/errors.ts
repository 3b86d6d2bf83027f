import { ApiPartialResponseError, ApiRequestError, ApiResponseError } from 'twitter-api-v2';

/**
 * A failed X call, told apart by class; each class says what the engine must do about it:
 * - XRateLimitError: wait for the reset; nothing was created.
 * - XAccountRefusedError (auth, access, credits): the whole account is refused; pause its work
 *   with the reason, lose nothing.
 * - XDuplicateError: X already has this text from the account; reconcile to find the tweet.
 * - XTransientError: safe to retry after a backoff (reads, or writes X certainly did not apply).
 * - XUnknownOutcomeError: a write that may or may not have happened; reconcile before any retry.
 * - XPermanentError: X refused this request for good; fail it with the reason.
 */
export abstract class XApiError extends Error {
  readonly status: number | null;

  constructor(message: string, options: { status?: number | null } = {}) {
    super(message);
    this.name = new.target.name;
    this.status = options.status ?? null;
  }
}

export class XRateLimitError extends XApiError {
  /** When X says the window resets (epoch ms), when it said. */
  readonly resetAt: number | null;

  constructor(message: string, options: { status?: number | null; resetAt?: number | null } = {}) {
    super(message, options);
    this.resetAt = options.resetAt ?? null;
  }
}

/** X refuses the account itself, whatever the request: no retry helps until a person acts. */
export abstract class XAccountRefusedError extends XApiError {}
/** 401: the tokens were revoked or regenerated. */
export class XAuthError extends XAccountRefusedError {}
/** 403: the access level or the app's permissions do not allow the call. */
export class XAccessError extends XAccountRefusedError {}
/** 403 on a direct-message call: the X app lacks the "Direct Messages" permission (only the DM channel stops). */
export class XDirectMessagesAccessError extends XAccessError {}
/** 402 (pay-per-use): the account's credits are used up or its spending limit reached. */
export class XCreditsDepletedError extends XAccountRefusedError {}

export class XDuplicateError extends XApiError {}
export class XTransientError extends XApiError {}
export class XUnknownOutcomeError extends XApiError {}
export class XPermanentError extends XApiError {}

/**
 * A paged read that did not finish: X repeated a page token, or the read reached the page cap.
 * The pages read so far come with it; whoever moves a cursor must not move it past them.
 */
export class XIncompleteReadError<T = unknown> extends XTransientError {
  constructor(message: string, readonly partial: T[]) {
    super(message);
  }
}

/** A read stopped at KBTS_MAX_PAGES_PER_READ pages: what X served was sound, there was only more of it. */
export class XPageCapError<T = unknown> extends XIncompleteReadError<T> {}

const DUPLICATE = /duplicate content/i;

/** The words people see while an account's X credits are used up (dashboard, record page, CLI). */
export const CREDITS_USED_UP = 'X credits are used up; add credits in the X developer console, then resume';

/**
 * X puts its reason in different places: `detail` or `title` (often a generic "One or more
 * parameters to your request was invalid."), and the specific one in `errors[].message` or
 * `errors[].detail`. All of them are kept, the general one first.
 */
export function problemText(data: unknown): string {
  const problem = (data && typeof data === 'object' ? data : {}) as { detail?: unknown; title?: unknown; errors?: unknown };
  const textOf = (value: unknown) => (typeof value === 'string' && value.trim() !== '' ? value.trim() : null);
  const general = textOf(problem.detail) ?? textOf(problem.title);
  const specific: string[] = [];
  for (const entry of Array.isArray(problem.errors) ? problem.errors : []) {
    const item = (entry ?? {}) as { message?: unknown; detail?: unknown; title?: unknown };
    for (const text of [textOf(item.message), textOf(item.detail) ?? textOf(item.title)]) {
      if (text && text !== general && !specific.includes(text)) specific.push(text);
    }
  }
  const parts = [general, specific.join('; ')].filter((part): part is string => !!part);
  return parts.length > 0 ? parts.join(': ') : 'no details given';
}

/** Turns whatever twitter-api-v2 threw into an XApiError with a reason a person can read. */
export function classifyXError(error: unknown, isWrite: boolean): XApiError {
  if (error instanceof XApiError) return error;
  const uncertain = isWrite ? XUnknownOutcomeError : XTransientError;
  if (error instanceof ApiResponseError) {
    const status = error.code;
    const detail = problemText(error.data);
    const data = (error.data ?? {}) as { reason?: string; type?: string };
    if (status === 429) {
      const reset = error.rateLimit?.reset;
      return new XRateLimitError('X rate limit reached', { status, resetAt: reset ? reset * 1000 : null });
    }
    if (status === 401) {
      return new XAuthError(`X refused the account's credentials (401: ${detail}); the tokens may have been revoked or regenerated`, { status });
    }
    if (status === 402) {
      return new XCreditsDepletedError(
        `${CREDITS_USED_UP} (X answered 402: ${detail})`,
        { status },
      );
    }
    if (status === 403 && DUPLICATE.test(detail)) {
      return new XDuplicateError(`X refused the text as a duplicate of a recent post by the account (${detail})`, { status });
    }
    if (status === 403 && (data.reason === 'client-not-enrolled' || /client-forbidden/.test(data.type ?? ''))) {
      return new XAccessError(`your X access level does not allow this (403: ${detail})`, { status });
    }
    if (status === 403 && /oauth1.?(app )?permissions|not configured with the appropriate/i.test(detail + (data.type ?? ''))) {
      return new XAccessError(`the X app's permissions do not allow posting; set it to Read and Write and regenerate the tokens (403: ${detail})`, { status });
    }
    if (status >= 500) return new uncertain(`X answered ${status} (${detail})`, { status });
    return new XPermanentError(`X refused the request (${status}: ${detail})`, { status });
  }
  if (error instanceof ApiRequestError || error instanceof ApiPartialResponseError) {
    const cause = error instanceof ApiRequestError ? error.requestError?.message : error.responseError?.message;
    return new uncertain(`could not reach X or read its answer (${cause || error.message})`);
  }
  const message = error instanceof Error ? error.message : String(error);
  return new uncertain(`unexpected failure talking to X (${message})`);
}
