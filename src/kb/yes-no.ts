export type YesNo =
  | { kind: 'yes' }
  | { kind: 'no' }
  | { kind: 'blank' }
  | { kind: 'invalid'; shown: string };

const YES = new Set(['true', '1', 'yes', 'y', 'on']);
const NO = new Set(['false', '0', 'no', 'n', 'off']);

/** DESIGN.md section 2 rule 9: case and surrounding spaces ignored; NULL or empty is blank. */
export function parseYesNo(value: unknown): YesNo {
  if (value === null || value === undefined) return { kind: 'blank' };
  if (typeof value === 'boolean') return { kind: value ? 'yes' : 'no' };
  const text = (typeof value === 'number' || typeof value === 'bigint' ? String(value) : typeof value === 'string' ? value : '').trim();
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'bigint') {
    return { kind: 'invalid', shown: String(value) };
  }
  if (text === '') return { kind: 'blank' };
  const lower = text.toLowerCase();
  if (YES.has(lower)) return { kind: 'yes' };
  if (NO.has(lower)) return { kind: 'no' };
  return { kind: 'invalid', shown: text.length > 40 ? `${text.slice(0, 40)}…` : text };
}

/** Yes and blank allow tweeting and writing replies; No and anything else do not. */
export function continueAllows(value: YesNo): boolean {
  return value.kind === 'yes' || value.kind === 'blank';
}

/** Why a record's continue field stops it, in words; null when it does not. */
export function continueRefusal(value: YesNo): string | null {
  if (value.kind === 'no') return 'continue field is No';
  if (value.kind === 'invalid') return `continue field holds '${value.shown}', which is neither Yes nor No`;
  return null;
}
