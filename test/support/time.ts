import { DateTime } from 'luxon';

/** How a reply's time opens its entry in a record: `[2026-11-20 09:00 UTC]`, from the same instant the test posted. */
export function entryStamp(instant: DateTime): string {
  return `[${instant.toUTC().toFormat('yyyy-MM-dd HH:mm')} UTC]`;
}

/** The ISO-8601 form the emulator's `created_at` takes. */
export function iso(instant: DateTime): string {
  return instant.toUTC().toISO() as string;
}
