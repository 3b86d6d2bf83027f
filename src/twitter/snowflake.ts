// X ids are snowflakes: the milliseconds since X's epoch sit above the low 22 bits, so ids
// order by time and a time offset can be turned into an id offset.
const TIME_SHIFT = 22n;
const X_EPOCH_MS = 1288834974657n;

const CANONICAL_ID = /^(?:0|[1-9]\d*)$/;

/**
 * Numeric order of two ids. X writes them in decimal without leading zeros, so the longer is the
 * larger and equal lengths order as text; a poll sorts thousands, and two BigInts per comparison
 * showed in its profile. Anything else is compared as numbers.
 */
export function compareTweetIds(a: string, b: string): number {
  if (CANONICAL_ID.test(a) && CANONICAL_ID.test(b)) {
    if (a.length !== b.length) return a.length < b.length ? -1 : 1;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  const left = BigInt(a);
  const right = BigInt(b);
  return left < right ? -1 : left > right ? 1 : 0;
}

export function maxTweetId(ids: Iterable<string>): string | null {
  let max: string | null = null;
  for (const id of ids) if (max === null || compareTweetIds(id, max) > 0) max = id;
  return max;
}

export function minTweetId(ids: Iterable<string>): string | null {
  let min: string | null = null;
  for (const id of ids) if (min === null || compareTweetIds(id, min) < 0) min = id;
  return min;
}

/** When X made an id (epoch ms). */
export function tweetIdTimeMs(id: string): number {
  return Number((BigInt(id) >> TIME_SHIFT) + X_EPOCH_MS);
}

/** An id from `seconds` before the given one, for re-reading an overlap behind a cursor. */
export function tweetIdSecondsBefore(id: string, seconds: number): string {
  const shifted = BigInt(id) - (BigInt(Math.round(seconds * 1000)) << TIME_SHIFT);
  return shifted > 0n ? shifted.toString() : '1';
}

export function tweetIdBefore(id: string): string {
  const previous = BigInt(id) - 1n;
  return previous > 0n ? previous.toString() : '1';
}

/** The smallest id X could have made at this moment (epoch ms): reading from it reads nothing older. */
export function tweetIdAtMs(ms: number): string {
  const id = (BigInt(Math.max(0, Math.round(ms)) ) - X_EPOCH_MS) << TIME_SHIFT;
  return id > 0n ? id.toString() : '1';
}
