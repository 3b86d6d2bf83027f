import { MAX_TWEET_WEIGHT, weightedLength } from '../twitter/weighted-length';
import type { LongTextPolicy } from '../store/integrations';

export type TweetPlan = { ok: true; parts: string[] } | { ok: false; reason: string };

const ELLIPSIS = '…';
// X Premium's limit for one long post.
const LONG_POST_MAX = 25_000;
const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

function graphemes(text: string): string[] {
  return Array.from(segmenter.segment(text), (segment) => segment.segment);
}

/** The longest prefix of whole graphemes that, with the suffix, stays within 280 weighted characters. */
function longestFittingPrefix(pieces: string[], suffix: string): number {
  let low = 0;
  let high = pieces.length;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (weightedLength(pieces.slice(0, middle).join('').trimEnd() + suffix) <= MAX_TWEET_WEIGHT) low = middle;
    else high = middle - 1;
  }
  // A URL cut in half weighs differently from a whole one, so the search can overshoot.
  while (low > 0 && weightedLength(pieces.slice(0, low).join('').trimEnd() + suffix) > MAX_TWEET_WEIGHT) low--;
  return low;
}

function truncate(text: string): string {
  const pieces = graphemes(text);
  return pieces.slice(0, longestFittingPrefix(pieces, ELLIPSIS)).join('').trimEnd() + ELLIPSIS;
}

// Room kept in every part for a " (12/34)" counter.
const COUNTER_ROOM = ' (99/99)';

/** Splits at spaces where it can, inside a word only when one word alone is too long. */
function splitIntoThread(text: string): string[] {
  const parts: string[] = [];
  let rest = text.trim();
  while (rest.length > 0) {
    if (weightedLength(rest + COUNTER_ROOM) <= MAX_TWEET_WEIGHT) {
      parts.push(rest);
      break;
    }
    const pieces = graphemes(rest);
    let cut = longestFittingPrefix(pieces, COUNTER_ROOM);
    const lastSpace = pieces.slice(0, cut + 1).lastIndexOf(' ');
    if (lastSpace > 0 && pieces[cut] !== undefined) cut = lastSpace;
    parts.push(pieces.slice(0, cut).join('').trimEnd());
    rest = pieces.slice(cut).join('').trimStart();
  }
  return parts.map((part, index) => `${part} (${index + 1}/${parts.length})`);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Text that cannot be sent as it is: broken UTF-16 or UTF-8, or a NUL character. */
function unpostableCharacter(text: string): string | null {
  const lone = LONE_SURROGATE.exec(text);
  if (lone) {
    return `the tweet text is not valid Unicode: character ${Array.from(text.slice(0, lone.index)).length + 1} is half of a surrogate pair; fix the record's text`;
  }
  // Databases hand back broken UTF-8 or UTF-16 as U+FFFD: posting that would publish garbage.
  const replacement = text.indexOf('\uFFFD');
  if (replacement >= 0) {
    return `the tweet text is not valid Unicode: character ${Array.from(text.slice(0, replacement)).length + 1} could not be decoded (stored as a lone surrogate or in a broken encoding); fix the record's text`;
  }
  const nul = text.indexOf('\u0000');
  if (nul >= 0) return `the tweet text contains a NUL character (U+0000) at character ${Array.from(text.slice(0, nul)).length + 1}; remove it from the record's text`;
  return null;
}

/** What to post for a record's text under the integration's long-text policy. */
export function planTweet(value: unknown, policy: LongTextPolicy): TweetPlan {
  if (value === null || value === undefined) return { ok: false, reason: 'the tweet field is empty' };
  const text = String(value);
  if (text === '') return { ok: false, reason: 'the tweet field is empty' };
  if (text.trim() === '') return { ok: false, reason: 'the tweet field is empty (only spaces)' };
  const unreadable = unpostableCharacter(text);
  if (unreadable) return { ok: false, reason: unreadable };
  const weight = weightedLength(text);
  if (weight <= MAX_TWEET_WEIGHT) return { ok: true, parts: [text] };
  switch (policy) {
    case 'truncate':
      return { ok: true, parts: [truncate(text)] };
    case 'thread': {
      const parts = splitIntoThread(text);
      if (parts.length > 99) return { ok: false, reason: `the tweet text is ${weight} weighted characters, too long even for a thread of 99 posts` };
      return { ok: true, parts };
    }
    case 'long': {
      const length = Array.from(text).length;
      if (length > LONG_POST_MAX) return { ok: false, reason: `the tweet text is ${length} characters; a long post on X is at most ${LONG_POST_MAX} (long-text policy: long)` };
      return { ok: true, parts: [text] };
    }
    default:
      return {
        ok: false,
        reason: `the tweet text is ${weight} weighted characters; X allows ${MAX_TWEET_WEIGHT} (long-text policy: reject; choose truncate or thread to post it)`,
      };
  }
}
