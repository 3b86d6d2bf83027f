import type { LongTextPolicy } from '../store/integrations';
import { MAX_TWEET_WEIGHT, weightedLength } from '../twitter/weighted-length';
import { continueRefusal, parseYesNo } from '../kb/yes-no';
import { planTweet } from './long-text';

/*
 * What a record's text will become under a long-text policy, in one place for the server (the
 * save confirmation) and the browser (the record form's live counter, bundled by
 * scripts/bundle-browser.ts): both weigh and split with the same code.
 */

export type TweetOutcome =
  | { kind: 'held'; weight: number; reason: string }
  | { kind: 'empty'; weight: 0; reason: string }
  | { kind: 'fits'; weight: number }
  | { kind: 'rejected'; weight: number; reason: string }
  | { kind: 'truncated'; weight: number }
  | { kind: 'thread'; weight: number; parts: number };

/** `continueValue` is the record's continue field: No (or neither Yes nor No) holds the record back. */
export function tweetOutcome(value: unknown, policy: LongTextPolicy, continueValue: unknown = null): TweetOutcome {
  const plan = planTweet(value, policy);
  const text = value === null || value === undefined ? '' : String(value);
  const held = continueRefusal(parseYesNo(continueValue));
  if (held) return { kind: 'held', weight: text === '' ? 0 : weightedLength(text), reason: held };
  if (!plan.ok && text.trim() === '') return { kind: 'empty', weight: 0, reason: plan.reason };
  const weight = weightedLength(text);
  if (!plan.ok) return { kind: 'rejected', weight, reason: plan.reason };
  if (weight <= MAX_TWEET_WEIGHT) return { kind: 'fits', weight };
  return plan.parts.length > 1 ? { kind: 'thread', weight, parts: plan.parts.length } : { kind: 'truncated', weight };
}

/** The counter's words: "123 of 280", "300 of 280: will be rejected", "… will be posted in 2 parts". */
export function counterText(value: unknown, policy: LongTextPolicy, continueValue: unknown = null): string {
  const outcome = tweetOutcome(value, policy, continueValue);
  const count = `${outcome.weight} of ${MAX_TWEET_WEIGHT}`;
  switch (outcome.kind) {
    case 'held': return `${count}: will not be tweeted (${outcome.reason})`;
    case 'empty': return `${count}: empty, nothing to tweet`;
    case 'fits': return count;
    case 'rejected': return `${count}: will be rejected`;
    case 'truncated': return `${count}: will be truncated`;
    case 'thread': return `${count}: will be posted in ${outcome.parts} parts`;
  }
}

export { MAX_TWEET_WEIGHT, weightedLength };
