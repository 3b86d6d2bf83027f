/**
 * The emulator's own time: the machine's clock (or an injected source) plus an offset that the
 * control API and the start option move. It keeps running after a change, so windows still expire
 * by themselves; every rule that depends on time (ids, created_at, search's 7 days, rate-limit
 * windows, the 24 h duplicate memory) reads it.
 */
export class EmulatorClock {
  private offsetMs = 0;
  private startOffsetMs = 0;

  /** `startAt`: what the clock reads now (ms since the epoch); by default the source's time. */
  constructor(private readonly source: () => number = Date.now, startAt?: number) {
    if (startAt !== undefined) this.set(startAt);
    this.startOffsetMs = this.offsetMs;
  }

  now(): number {
    return this.source() + this.offsetMs;
  }

  /** From now on the clock reads `ms` and runs on from there. */
  set(ms: number): void {
    this.offsetMs = ms - this.source();
  }

  advance(ms: number): void {
    this.offsetMs += ms;
  }

  /** Undoes every change since the start: the clock reads as if it had only run on from its start. */
  reset(): void {
    this.offsetMs = this.startOffsetMs;
  }
}

/**
 * An ISO-8601 instant with a date, a time and a zone (Z or ±hh:mm), or null: a time without a
 * zone would mean a different instant on every machine.
 */
export function parseInstant(text: string): number | null {
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,9})?)?(Z|[+-]\d\d:\d\d)$/.test(text)) return null;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : null;
}
