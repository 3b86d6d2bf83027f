import assert from 'node:assert/strict';
import { ApiRequestError, ApiResponseError } from 'twitter-api-v2';
import {
  classifyXError, XAccessError, XAuthError, XCreditsDepletedError, XDuplicateError, XPermanentError, XRateLimitError,
  XTransientError, XUnknownOutcomeError, type XApiError,
} from '../../src/twitter/errors';
import { decideAfterError, type DecisionContext, type NextStep, type OutboundPhase } from '../../src/sync/outbound/decide';

// What X answers, as twitter-api-v2 throws it; classified as the engine sees it.
const NOW = Date.parse('2030-03-04T05:06:07.000Z');
const RESET_S = NOW / 1000 + 600;
const response = (code: number, data: Record<string, unknown>, rateLimit?: { limit: number; remaining: number; reset: number }) =>
  new ApiResponseError(`Request failed with code ${code}`, { code, data, headers: {}, rateLimit, request: {} as never, response: {} as never });
const X_ANSWERS = {
  'rate limit 429': () => response(429, { title: 'Too Many Requests', detail: 'Too Many Requests' }, { limit: 100, remaining: 0, reset: RESET_S }),
  'rate limit 429 without a reset': () => response(429, { title: 'Too Many Requests', detail: 'Too Many Requests' }),
  'auth 401': () => response(401, { title: 'Unauthorized', detail: 'Unauthorized', type: 'about:blank' }),
  'access 403': () => response(403, { title: 'Client Forbidden', reason: 'client-not-enrolled', type: 'https://api.twitter.com/2/problems/client-forbidden', detail: 'This request must be made using an approved developer account.' }),
  'duplicate 403': () => response(403, { detail: 'You are not allowed to create a Tweet with duplicate content.', type: 'about:blank', title: 'Forbidden' }),
  'credits depleted 402': () => response(402, { title: 'Payment Required', detail: 'credits depleted', type: 'https://api.x.com/2/problems/credits-depleted' }),
  'transient 503': () => response(503, { title: 'Service Unavailable', detail: 'Service Unavailable' }),
  'network failure': () => new ApiRequestError('Request failed', { request: {} as never, error: new Error('socket hang up') }),
  'permanent 400': () => response(400, { title: 'Invalid Request', detail: 'One or more parameters to your request was invalid.', errors: [{ message: 'text is too long' }] }),
} as const;
type Answer = keyof typeof X_ANSWERS;

// Reads are classified as reads (reconcile, before_send), the post as a write.
const errorIn = (answer: Answer | 'lost response', phase: OutboundPhase): XApiError => (answer === 'lost response'
  ? new XUnknownOutcomeError('X answered without a tweet id')
  : classifyXError(X_ANSWERS[answer](), phase === 'post'));

const context = (overrides: Partial<DecisionContext> = {}): DecisionContext => ({
  mayHavePosted: false, unknownAttempts: 1, maxAttemptsPerCycle: 3, partIndex: 0, partCount: 1,
  startedAt: '2030-03-04T05:00:00.000Z', nowMs: NOW, retryBaseMs: 1000, jitter: 0.5, ...overrides,
});
const at = (ms: number) => new Date(ms).toISOString();
const settled = (step: NextStep) => {
  assert.equal(step.step, 'settle', JSON.stringify(step));
  return step as Extract<NextStep, { step: 'settle' }>;
};

describe('classifying what X answers', () => {
  for (const [answer, expected] of [
    ['rate limit 429', XRateLimitError], ['auth 401', XAuthError], ['access 403', XAccessError], ['duplicate 403', XDuplicateError],
    ['credits depleted 402', XCreditsDepletedError], ['permanent 400', XPermanentError],
  ] as const) {
    it(`tells ${answer} apart by its class`, () => {
      assert.ok(classifyXError(X_ANSWERS[answer](), true) instanceof expected);
    });
  }

  it('treats a 5xx or a network failure as transient for a read and as an unknown outcome for a post', () => {
    for (const answer of ['transient 503', 'network failure'] as const) {
      assert.ok(classifyXError(X_ANSWERS[answer](), false) instanceof XTransientError, answer);
      assert.ok(classifyXError(X_ANSWERS[answer](), true) instanceof XUnknownOutcomeError, answer);
    }
  });

  it('keeps the reset time X gives with a 429', () => {
    assert.equal((classifyXError(X_ANSWERS['rate limit 429'](), false) as XRateLimitError).resetAt, RESET_S * 1000);
  });

  it('keeps X\'s reason wherever X puts it: detail, title, errors[].message or errors[].detail', () => {
    const inDetail = classifyXError(response(400, {
      title: 'Invalid Request', detail: 'One or more parameters to your request was invalid.',
      errors: [{ parameters: { since_id: ['1'] }, detail: "Invalid 'since_id': it must be a post id created after 2030-02-25" }],
    }), false);
    assert.equal(inDetail.message, "X refused the request (400: One or more parameters to your request was invalid.: Invalid 'since_id': it must be a post id created after 2030-02-25)");
    const inMessage = classifyXError(response(400, { title: 'Invalid Request', errors: [{ message: 'text is too long' }, { message: 'reply is not allowed' }] }), true);
    assert.equal(inMessage.message, 'X refused the request (400: Invalid Request: text is too long; reply is not allowed)');
    const onlyErrors = classifyXError(response(404, { errors: [{ title: 'Not Found Error', detail: 'Could not find user with id: [1].' }] }), false);
    assert.equal(onlyErrors.message, 'X refused the request (404: Could not find user with id: [1].)');
    assert.equal(classifyXError(response(400, {}), false).message, 'X refused the request (400: no details given)');
  });

  it('says in words that a 402 means the credits are used up', () => {
    assert.match(classifyXError(X_ANSWERS['credits depleted 402'](), true).message, /^X credits are used up; add credits in the X developer console, then resume \(X answered 402: credits depleted\)$/);
  });
});

describe('what an outbound item does after an error, in every phase', () => {
  describe('during the post', () => {
    const phase = 'post';

    it('rate limit 429: back to pending until the reset, and the account waits', () => {
      const step = settled(decideAfterError(errorIn('rate limit 429', phase), phase, context()));
      assert.deepEqual(step, {
        step: 'settle', state: 'pending', nextAttemptAt: at(RESET_S * 1000), reason: 'waiting for the X rate limit to reset',
        result: { kind: 'rate_limit', until: at(RESET_S * 1000) },
      });
    });

    it('rate limit 429 without a reset: waits one 15-minute window', () => {
      const step = settled(decideAfterError(errorIn('rate limit 429 without a reset', phase), phase, context()));
      assert.equal(step.nextAttemptAt, at(NOW + 15 * 60_000));
    });

    it('rate limit 429 once a thread part is out: stays sending, so the next attempt reconciles', () => {
      const step = settled(decideAfterError(errorIn('rate limit 429', phase), phase, context({ mayHavePosted: true, partIndex: 1, partCount: 2 })));
      assert.equal(step.state, 'sending');
      assert.equal(step.nextAttemptAt, at(RESET_S * 1000));
    });

    for (const answer of ['auth 401', 'access 403', 'credits depleted 402'] as const) {
      it(`${answer}: the account's work pauses with the reason and the item waits pending, not failed`, () => {
        const error = errorIn(answer, phase);
        const step = settled(decideAfterError(error, phase, context()));
        assert.deepEqual(step, { step: 'settle', state: 'pending', nextAttemptAt: null, reason: error.message, result: { kind: 'account_refused', reason: error.message } });
      });

      it(`${answer} when a post may be out: stays sending, due at once, to be reconciled after the pause`, () => {
        const step = settled(decideAfterError(errorIn(answer, phase), phase, context({ mayHavePosted: true })));
        assert.equal(step.state, 'sending');
        assert.equal(step.nextAttemptAt, at(NOW));
      });
    }

    it('duplicate 403: reconciles first, and fails with the reason only when the post is not found', () => {
      const step = decideAfterError(errorIn('duplicate 403', phase), phase, context());
      assert.equal(step.step, 'reconcile');
      const notFound = settled((step as Extract<NextStep, { step: 'reconcile' }>).ifNotFound);
      assert.equal(notFound.state, 'failed');
      assert.equal(notFound.result, 'failed');
      assert.match(notFound.reason, /duplicate .* not found among the account's tweets since 2030-03-04T05:00:00.000Z/);
    });

    for (const answer of ['transient 503', 'network failure', 'lost response'] as const) {
      it(`${answer}: reconciles, then retries after a backoff while attempts remain`, () => {
        const step = decideAfterError(errorIn(answer, phase), phase, context({ unknownAttempts: 2 }));
        assert.equal(step.step, 'reconcile');
        // Equal jitter: half of base·2^(attempt-1) fixed, half by the jitter given.
        assert.deepEqual((step as Extract<NextStep, { step: 'reconcile' }>).ifNotFound, { step: 'retry', afterMs: 1500 });
      });

      it(`${answer}: after the cycle's last attempt, stays sending and is checked again later`, () => {
        const step = decideAfterError(errorIn(answer, phase), phase, context({ unknownAttempts: 3 }));
        const notFound = settled((step as Extract<NextStep, { step: 'reconcile' }>).ifNotFound);
        assert.equal(notFound.state, 'sending');
        assert.equal(notFound.result, 'deferred');
        assert.equal(notFound.nextAttemptAt, at(NOW + 3000));
        assert.match(notFound.reason, /^outcome unknown, will check and retry: /);
      });
    }

    it('permanent 400: fails with X\'s reason', () => {
      const error = errorIn('permanent 400', phase);
      assert.deepEqual(settled(decideAfterError(error, phase, context())), { step: 'settle', state: 'failed', nextAttemptAt: null, reason: error.message, result: 'failed' });
    });

    it('permanent 400 on a later thread part: the reason names the part', () => {
      const step = settled(decideAfterError(errorIn('permanent 400', phase), phase, context({ partIndex: 2, partCount: 3, mayHavePosted: true })));
      assert.equal(step.state, 'failed');
      assert.match(step.reason, /^part 3 of 3 of the thread was refused: X refused the request \(400: /);
    });
  });

  describe('during reconciliation (reading the account\'s own tweets)', () => {
    const phase = 'reconcile';
    const reason = (error: XApiError) => `could not check whether the post was created: ${error.message}`;

    it('rate limit 429: stays sending until the reset, and the account waits', () => {
      const error = errorIn('rate limit 429', phase);
      assert.deepEqual(settled(decideAfterError(error, phase, context())), {
        step: 'settle', state: 'sending', nextAttemptAt: at(RESET_S * 1000), reason: reason(error), result: { kind: 'rate_limit', until: at(RESET_S * 1000) },
      });
    });

    it('rate limit 429 without a reset: stays sending for a backoff', () => {
      const step = settled(decideAfterError(errorIn('rate limit 429 without a reset', phase), phase, context()));
      assert.equal(step.nextAttemptAt, at(NOW + 1500));
    });

    for (const answer of ['auth 401', 'access 403', 'credits depleted 402'] as const) {
      it(`${answer}: the account pauses; the item stays sending, due at once, never failed`, () => {
        const error = errorIn(answer, phase);
        assert.deepEqual(settled(decideAfterError(error, phase, context())), {
          step: 'settle', state: 'sending', nextAttemptAt: at(NOW), reason: error.message, result: { kind: 'account_refused', reason: error.message },
        });
      });
    }

    for (const answer of ['transient 503', 'network failure', 'lost response', 'permanent 400', 'duplicate 403'] as const) {
      it(`${answer}: stays sending and is checked again after a backoff, never posted blind`, () => {
        const error = errorIn(answer, phase);
        assert.deepEqual(settled(decideAfterError(error, phase, context({ unknownAttempts: 3 }))), {
          step: 'settle', state: 'sending', nextAttemptAt: at(NOW + 1500), reason: reason(error), result: 'deferred',
        });
      });
    }
  });

  describe('before the send (a call the item makes before posting)', () => {
    const phase = 'before_send';

    it('rate limit 429: back to pending until the reset', () => {
      const step = settled(decideAfterError(errorIn('rate limit 429', phase), phase, context()));
      assert.equal(step.state, 'pending');
      assert.deepEqual(step.result, { kind: 'rate_limit', until: at(RESET_S * 1000) });
    });

    for (const answer of ['auth 401', 'access 403', 'credits depleted 402'] as const) {
      it(`${answer}: the account pauses and the item waits pending`, () => {
        const error = errorIn(answer, phase);
        const step = settled(decideAfterError(error, phase, context()));
        assert.equal(step.state, 'pending');
        assert.deepEqual(step.result, { kind: 'account_refused', reason: error.message });
      });
    }

    for (const answer of ['transient 503', 'network failure', 'lost response'] as const) {
      it(`${answer}: nothing was posted, so it goes back to pending for a backoff`, () => {
        const step = settled(decideAfterError(errorIn(answer, phase), phase, context()));
        assert.equal(step.state, 'pending');
        assert.equal(step.result, 'deferred');
        assert.equal(step.nextAttemptAt, at(NOW + 1500));
      });
    }

    it('transient 503 when an earlier post may be out: stays sending', () => {
      assert.equal(settled(decideAfterError(errorIn('transient 503', phase), phase, context({ mayHavePosted: true }))).state, 'sending');
    });

    for (const answer of ['permanent 400', 'duplicate 403'] as const) {
      it(`${answer}: fails with X's reason`, () => {
        const error = errorIn(answer, phase);
        assert.deepEqual(settled(decideAfterError(error, phase, context())), { step: 'settle', state: 'failed', nextAttemptAt: null, reason: error.message, result: 'failed' });
      });
    }
  });

  it('gives the same step for the same error and context (no clock, no randomness inside)', () => {
    const error = errorIn('transient 503', 'post');
    assert.deepEqual(decideAfterError(error, 'post', context()), decideAfterError(error, 'post', context()));
  });
});
