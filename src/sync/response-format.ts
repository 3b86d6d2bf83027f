import { DateTime } from 'luxon';
import type { ResponseMode } from '../kb/schema';
import type { XMedia } from '../twitter/x-client';

export interface ReplyEntryInput {
  createdAt: string;
  username: string;
  text: string;
  /** The reply's photos, videos and GIFs, written after its text. */
  media?: XMedia[];
}

/**
 * X puts the replied-to handles in front of a reply ("@kb_account @bob thanks!"); the entry
 * shows what the person wrote. A reply made only of handles is kept whole.
 */
export function replyBody(text: string): string {
  const body = text.replace(/^(?:@\w{1,15}\s+)+/, '');
  return body.trim() === '' ? text.trim() : body;
}

/** X sends text HTML-escaped (&amp; &lt; &gt;); the record holds what the person typed. */
export function unescapeXText(text: string): string {
  // Most texts hold no escape at all; three regular expressions over each showed in the profile.
  if (!text.includes('&')) return text;
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

// Stamps show the minute, and zone offsets have been whole minutes everywhere since 1972, so a
// stamp is worked out once per zone and minute: a poll with thousands of replies formats few.
const stamps = new Map<string, string>();
const UTC_TIME = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?Z$/;

function stamp(createdAt: string, timeZone: string): string {
  const minute = UTC_TIME.exec(createdAt)?.[1];
  const key = minute === undefined ? undefined : `${timeZone} ${minute}`;
  const known = key === undefined ? undefined : stamps.get(key);
  if (known !== undefined) return known;
  const formatted = DateTime.fromISO(createdAt, { zone: 'utc' }).setZone(timeZone).setLocale('en-US').toFormat('yyyy-MM-dd HH:mm ZZZZ');
  if (key !== undefined) {
    if (stamps.size >= 10_000) stamps.clear();
    stamps.set(key, formatted);
  }
  return formatted;
}

/** `[2026-11-22 14:03 UTC] @alice: the reply text`, stamped in the integration's time zone. */
export function formatEntry(reply: ReplyEntryInput, timeZone: string): string {
  return `[${stamp(reply.createdAt, timeZone)}] @${reply.username}: ${replyBody(unescapeXText(reply.text))}${mediaMarkers(reply.media)}`;
}

const MEDIA_WORDS: Record<string, string> = { photo: 'photo', video: 'video', animated_gif: 'GIF' };

/**
 * A reply's media as the entry shows them: ` [photo: https://…] [video: https://…]` (a video or a
 * GIF by its preview image: X gives no address of the video file itself in v2).
 */
export function mediaMarkers(media: XMedia[] | undefined): string {
  if (!media || media.length === 0) return '';
  return media.flatMap((item) => {
    const address = item.url ?? item.previewImageUrl;
    return address ? [` [${MEDIA_WORDS[item.type] ?? item.type}: ${address}]`] : [];
  }).join('');
}

/** The media an entry's text names (`[photo: https://…]`), for the record page's thumbnails. */
export function mediaInEntry(text: string): Array<{ kind: string; url: string }> {
  return [...text.matchAll(/\[(photo|video|GIF): (https?:\/\/[^\s\]]+)\]/g)].map((match) => ({ kind: match[1], url: match[2] }));
}

/** The field's new content after entries (oldest first) are applied in the given mode. */
export function applyEntries(current: string | null, entries: string[], mode: ResponseMode): string {
  if (entries.length === 0) return current ?? '';
  const existing = current ?? '';
  switch (mode) {
    case 'overwrite':
      return entries[entries.length - 1];
    case 'prepend':
      // Newest on top: the last applied entry ends up first.
      return [...entries].reverse().concat(existing === '' ? [] : [existing]).join('\n');
    default:
      return (existing === '' ? [] : [existing]).concat(entries).join('\n');
  }
}

/** The length `applyEntries(current, [entry], mode)` gives, from the two lengths alone. */
export function lengthWithEntry(currentLength: number, entryLength: number, mode: ResponseMode): number {
  if (mode === 'overwrite' || currentLength === 0) return entryLength;
  return currentLength + 1 + entryLength;
}

export function isValidTimeZone(zone: string): boolean {
  return DateTime.now().setZone(zone).isValid;
}
