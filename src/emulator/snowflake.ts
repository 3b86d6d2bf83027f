/** X's snowflake epoch (2010-11-04T01:42:54.657Z): ids carry milliseconds since it above 22 low bits. */
export const X_EPOCH_MS = 1288834974657n;
const TIME_SHIFT = 22n;

/** The smallest id X could assign at `ms`. */
export function snowflakeAt(ms: number): bigint {
  const since = BigInt(Math.floor(ms)) - X_EPOCH_MS;
  return (since > 0n ? since : 0n) << TIME_SHIFT;
}

/** When an id was made, in ms since the Unix epoch. */
export function snowflakeTime(id: string | bigint): number {
  return Number((BigInt(id) >> TIME_SHIFT) + X_EPOCH_MS);
}

/**
 * Hands out strictly increasing ids that encode time. When the clock stands still or a caller
 * back-dates a tweet, the next id is simply the previous one plus one, as X's sequence bits do.
 */
export class SnowflakeGenerator {
  private last = 0n;

  next(ms: number): string {
    let id = snowflakeAt(ms);
    if (id <= this.last) id = this.last + 1n;
    this.last = id;
    return id.toString();
  }

  /** Goes on after an id handed out earlier (by this sequence before a restart). */
  continueAfter(id: string): void {
    const last = BigInt(id);
    if (last > this.last) this.last = last;
  }
}
