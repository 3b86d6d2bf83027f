import { DateTime } from 'luxon';

/** Time is injected so tests control it; everything stored is UTC ISO-8601. */
export interface Clock {
  now(): DateTime;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => DateTime.utc(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export function toIso(dateTime: DateTime): string {
  return dateTime.toUTC().toISO({ suppressMilliseconds: false }) as string;
}
