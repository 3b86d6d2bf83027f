import { ApiPartialResponseError, ApiRequestError, ApiResponseError } from 'twitter-api-v2';

/**
 * What the engine must do about a failed X call:
 * - rate_limit: wait for the reset; nothing was created.
 * - auth / access: the whole account is refused; pause its integrations with the reason.
 * - duplicate: X already has this text from the account; reconcile to find the tweet.
 * - transient: safe to retry after a backoff (reads, or writes X certainly did not apply).
 * - unknown_outcome: a write that may or may not have happened; reconcile before any retry.
 * - permanent: X refused this request for good; fail it with the reason.
 */
export type XErrorKind = 'rate_limit' | 'auth' | 'access' | 'duplicate' | 'transient' | 'unknown_outcome' | 'permanent';

export class XApiError extends Error {
  readonly kind: XErrorKind;
  readonly status: number | null;
  /** For rate_limit: when X says the window resets (epoch ms). */
  readonly resetAt: number | null;

  constructor(kind: XErrorKind, message: string, options: { status?: number | null; resetAt?: number | null } = {}) {
    super(message);
    this.name = 'XApiError';
    this.kind = kind;
    this.status = options.status ?? null;
    this.resetAt = options.resetAt ?? null;
  }
}

const DUPLICATE = /duplicate content/i;

function problemText(data: unknown): string {
  const problem = (data ?? {}) as { detail?: string; title?: string; errors?: Array<{ message?: string }>; reason?: string };
  const parts = [problem.detail || problem.title, problem.errors?.map((error) => error.message).filter(Boolean).join('; ')]
    .filter((part) => part && String(part).trim() !== '');
  return parts.length > 0 ? parts.join(': ') : 'no details given';
}

/** Turns whatever twitter-api-v2 threw into an XApiError with a reason a person can read. */
export function classifyXError(error: unknown, isWrite: boolean): XApiError {
  if (error instanceof XApiError) return error;
  if (error instanceof ApiResponseError) {
    const status = error.code;
    const detail = problemText(error.data);
    const data = (error.data ?? {}) as { reason?: string; type?: string };
    if (status === 429) {
      const reset = error.rateLimit?.reset;
      return new XApiError('rate_limit', 'X rate limit reached', { status, resetAt: reset ? reset * 1000 : null });
    }
    if (status === 401) {
      return new XApiError('auth', `X refused the account's credentials (401: ${detail}); the tokens may have been revoked or regenerated`, { status });
    }
    if (status === 403 && DUPLICATE.test(detail)) {
      return new XApiError('duplicate', `X refused the text as a duplicate of a recent post by the account (${detail})`, { status });
    }
    if (status === 403 && (data.reason === 'client-not-enrolled' || /client-forbidden/.test(data.type ?? ''))) {
      return new XApiError('access', `your X access level does not allow this (403: ${detail})`, { status });
    }
    if (status === 403 && /oauth1.?(app )?permissions|not configured with the appropriate/i.test(detail + (data.type ?? ''))) {
      return new XApiError('access', `the X app's permissions do not allow posting; set it to Read and Write and regenerate the tokens (403: ${detail})`, { status });
    }
    if (status >= 500) {
      return new XApiError(isWrite ? 'unknown_outcome' : 'transient', `X answered ${status} (${detail})`, { status });
    }
    return new XApiError('permanent', `X refused the request (${status}: ${detail})`, { status });
  }
  if (error instanceof ApiRequestError || error instanceof ApiPartialResponseError) {
    const cause = error instanceof ApiRequestError ? error.requestError?.message : error.responseError?.message;
    return new XApiError(isWrite ? 'unknown_outcome' : 'transient', `could not reach X or read its answer (${cause || error.message})`);
  }
  const message = error instanceof Error ? error.message : String(error);
  return new XApiError(isWrite ? 'unknown_outcome' : 'transient', `unexpected failure talking to X (${message})`);
}
