import type { DateTime } from 'luxon';
import type { Clock } from '../../src/lib/clock';

/** A clock the test moves (sleeps stay real): a day or a month turns when the test says. */
export function movableClock(start: DateTime): Clock & { set(to: DateTime): void } {
  let now = start;
  return { now: () => now, sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)), set: (to) => { now = to; } };
}
