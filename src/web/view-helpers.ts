import { DateTime } from 'luxon';
import { maskSecret } from '../lib/secret-box';
import type { Account } from '../store/accounts';

/** Functions every template may call; all output is still escaped by <%= %>. */
export const viewHelpers = {
  /** A stored UTC time as "2026-11-22 14:03:05 UTC". */
  when(iso: string | Date | null | undefined): string {
    if (!iso) return '—';
    const time = iso instanceof Date ? DateTime.fromJSDate(iso) : DateTime.fromISO(iso);
    return time.isValid ? time.toUTC().toFormat('yyyy-MM-dd HH:mm:ss') + ' UTC' : String(iso);
  },
  /** "3 minutes ago" / "in 2 minutes", for glancing. */
  relative(iso: string | Date | null | undefined): string {
    if (!iso) return '';
    const time = iso instanceof Date ? DateTime.fromJSDate(iso) : DateTime.fromISO(iso);
    return time.isValid ? time.toRelative() ?? '' : '';
  },
  shorten(value: unknown, max = 80): string {
    const shown = value === null || value === undefined ? '' : String(value);
    return shown.length > max ? `${shown.slice(0, max - 1)}…` : shown;
  },
  mask: maskSecret,
  environmentLabel(account: Pick<Account, 'environment' | 'apiBaseUrl'>): string {
    if (account.environment === 'sandbox') return 'Sandbox';
    if (account.environment === 'custom') return `X-compatible server (${account.apiBaseUrl ?? '?'})`;
    return 'Live X API';
  },
  /** Where a person can see a tweet: X itself, or the sandbox page for sandbox accounts. */
  tweetHref(account: Pick<Account, 'id' | 'environment' | 'screenName'> | undefined, tweetId: string): string | null {
    if (!account) return null;
    if (account.environment === 'sandbox') return `/sandbox/accounts/${account.id}#tweet-${tweetId}`;
    if (account.environment === 'live') return `https://x.com/${account.screenName ?? 'i'}/status/${encodeURIComponent(tweetId)}`;
    return null;
  },
  recordHref(table: string, key: string): string {
    return `/records/${encodeURIComponent(table)}/rows/${encodeURIComponent(key)}`;
  },
  tableHref(table: string): string {
    return `/records/${encodeURIComponent(table)}`;
  },
  /** A query string that keeps the current filters and changes one. */
  withQuery(current: Record<string, string>, changes: Record<string, string | number>): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries({ ...current, ...changes })) if (value !== '' && value !== undefined) params.set(key, String(value));
    const query = params.toString();
    return query ? `?${query}` : '';
  },
};
