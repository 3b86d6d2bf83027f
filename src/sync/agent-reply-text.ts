import { MAX_TWEET_WEIGHT, weightedLength } from '../twitter/weighted-length';

/*
 * The text of an agent's reply from the record: what the person typed, then the agent's initials
 * and X's "message me" link when the integration adds them. The server builds the posted text
 * here; the record page's counter (public/agent-reply.js) weighs the typed text trimmed plus the
 * same suffix, which the page is given, with the same twitter-text weighting.
 */

/** " - J.D" for John Doe, " - J." for a one-word name (the omnichannel add-on's convention). */
export function agentInitials(name: string): string {
  const words = name.trim().split(/\s+/).filter((word) => word !== '');
  const letters = words.map((word) => Array.from(word)[0].toLocaleUpperCase('en-US'));
  if (letters.length === 0) return '';
  return letters.length === 1 ? `${letters[0]}.` : letters.join('.');
}

/** X's deep link that opens a private conversation with the account. */
export function dmDeepLink(accountUserId: string): string {
  return `https://x.com/messages/compose?recipient_id=${encodeURIComponent(accountUserId)}`;
}

export interface ReplySignature {
  /** The agent's initials, when the integration signs replies; null otherwise. */
  initials: string | null;
  /** The account's X user id, when the integration adds the DM deep link; null otherwise. */
  dmRecipientId: string | null;
}

/** What is added after the typed text: " - J.D", then " https://x.com/messages/compose?recipient_id=…". */
export function replySuffix(signature: ReplySignature): string {
  return (signature.initials ? ` - ${signature.initials}` : '') + (signature.dmRecipientId ? ` ${dmDeepLink(signature.dmRecipientId)}` : '');
}

export function composeReply(body: string, suffix: string): string {
  return body.trim() + suffix;
}

// A high surrogate not followed by a low one, or a low one not after a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Why this text cannot be posted, in words, or null. The weight counted is the posted text's,
 * initials and link included.
 */
export function replyTextProblem(body: unknown, suffix: string): string | null {
  if (typeof body !== 'string') return 'send the reply\'s text as a string';
  if (body.includes('\u0000')) return 'the reply holds a NUL character, which X does not take; remove it';
  if (LONE_SURROGATE.test(body)) return 'the reply holds broken Unicode (a lone surrogate); retype the character that shows wrong';
  if (body.trim() === '') return 'the reply is empty; write what to answer';
  const weight = weightedLength(composeReply(body, suffix));
  if (weight > MAX_TWEET_WEIGHT) {
    const extra = suffix === '' ? '' : ' with the initials and link the integration adds';
    return `the reply is ${weight} of ${MAX_TWEET_WEIGHT} weighted characters${extra}; shorten it by ${weight - MAX_TWEET_WEIGHT}`;
  }
  return null;
}
