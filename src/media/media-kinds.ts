/**
 * What X accepts in a post: the file types it takes, told from the file's first bytes, and its
 * limits per type and per post (/work/shared/x-api/README.md, "Media upload (v2)").
 */

export type MediaKind = 'image' | 'gif' | 'video';

export interface MediaType {
  kind: MediaKind;
  /** The MIME type X's initialize takes as media_type. */
  mimeType: string;
  /** What people call it, for messages. */
  name: string;
}

export const MB = 1024 * 1024;

/** X's size limit per kind. */
export const X_MEDIA_LIMIT_BYTES: Readonly<Record<MediaKind, number>> = {
  image: 5 * MB,
  gif: 15 * MB,
  video: 512 * MB,
};

/** X's media_category for a post's media. */
export const MEDIA_CATEGORY: Readonly<Record<MediaKind, string>> = {
  image: 'tweet_image',
  gif: 'tweet_gif',
  video: 'tweet_video',
};

export const MAX_IMAGES_PER_POST = 4;

// Each APPEND of an upload carries this much: the only part of a file or a BLOB in memory at a time.
export const UPLOAD_CHUNK_BYTES = 2 * MB;

/** How many leading bytes sniffMediaType needs. */
export const SNIFF_BYTES = 16;

const startsWith = (bytes: Uint8Array, signature: number[], at = 0) => signature.every((byte, i) => bytes[at + i] === byte);
const ascii = (bytes: Uint8Array, from: number, to: number) => String.fromCharCode(...bytes.subarray(from, to));

/**
 * The type from the file's content, not its name. A handful of fixed signatures is all X's five
 * types need, so they are checked here by hand rather than through a package (file-type is not
 * installed, and it knows hundreds of types X refuses anyway).
 */
export function sniffMediaType(head: Uint8Array): MediaType | null {
  if (startsWith(head, [0xff, 0xd8, 0xff])) return { kind: 'image', mimeType: 'image/jpeg', name: 'JPEG image' };
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return { kind: 'image', mimeType: 'image/png', name: 'PNG image' };
  if (ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 12) === 'WEBP') return { kind: 'image', mimeType: 'image/webp', name: 'WEBP image' };
  if (ascii(head, 0, 6) === 'GIF87a' || ascii(head, 0, 6) === 'GIF89a') return { kind: 'gif', mimeType: 'image/gif', name: 'GIF' };
  // ISO base media files (MP4, MOV) begin with a box whose type is "ftyp"; QuickTime's brand is "qt  ".
  if (ascii(head, 4, 8) === 'ftyp') {
    const brand = ascii(head, 8, 12);
    return brand === 'qt  '
      ? { kind: 'video', mimeType: 'video/quicktime', name: 'MOV video' }
      : { kind: 'video', mimeType: 'video/mp4', name: 'MP4 video' };
  }
  return null;
}

const KIND_WITH_ARTICLE: Record<MediaKind, string> = { image: 'an image', gif: 'a GIF', video: 'a video' };

export const megabytes = (bytes: number) => `${(bytes / MB).toFixed(bytes < MB ? 2 : 1).replace(/\.0+$/, '')} MB`;

/** Why the file's size is refused, or null: X's limit for its kind and the product's cap (KBTS_MEDIA_MAX_MB). */
export function sizeRefusal(type: MediaType, bytes: number, maxBytes: number): string | null {
  if (bytes === 0) return 'the file is empty';
  const xLimit = X_MEDIA_LIMIT_BYTES[type.kind];
  if (bytes > xLimit) return `the ${type.name} is ${megabytes(bytes)}; X takes at most ${megabytes(xLimit)} for ${KIND_WITH_ARTICLE[type.kind]}`;
  if (bytes > maxBytes) return `the ${type.name} is ${megabytes(bytes)}; this installation posts files of at most ${megabytes(maxBytes)} (KBTS_MEDIA_MAX_MB)`;
  return null;
}

/** Why this set of files cannot go in one post, or null: up to 4 images, or 1 GIF, or 1 video. */
export function mixRefusal(kinds: MediaKind[]): string | null {
  const images = kinds.filter((kind) => kind === 'image').length;
  const others = kinds.length - images;
  if (others > 0 && kinds.length > 1) {
    return `a post takes up to ${MAX_IMAGES_PER_POST} images, or 1 GIF, or 1 video; this record has ${describeKinds(kinds)}`;
  }
  if (images > MAX_IMAGES_PER_POST) return `a post takes at most ${MAX_IMAGES_PER_POST} images; this record has ${images}`;
  return null;
}

function describeKinds(kinds: MediaKind[]): string {
  const counts = new Map<MediaKind, number>();
  for (const kind of kinds) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  const words: Record<MediaKind, [string, string]> = { image: ['image', 'images'], gif: ['GIF', 'GIFs'], video: ['video', 'videos'] };
  return [...counts].map(([kind, count]) => `${count} ${words[kind][count === 1 ? 0 : 1]}`).join(' and ');
}

/** The rules, as the wizard shows them beside the media field. */
export const MEDIA_FIELD_RULES = 'a text column with file paths relative to the media folder (KBTS_MEDIA_DIR), one per line, '
  + 'or a BLOB/bytea column with the file itself; up to 4 images (JPEG, PNG, WEBP), or 1 GIF, or 1 video (MP4, MOV) per post; '
  + 'X takes images up to 5 MB, GIFs up to 15 MB, videos up to 512 MB, and this installation at most KBTS_MEDIA_MAX_MB (default 25 MB)';
