import crypto from 'node:crypto';
import { sniffMediaType, X_MEDIA_LIMIT_BYTES, MAX_IMAGES_PER_POST, type MediaKind } from '../media/media-kinds';

/**
 * X's v2 media upload, acted out: initialize → append (chunks) → finalize → STATUS while a video
 * is processed (pending → in_progress → succeeded | failed, on the emulator's clock), and the
 * checks POST /2/tweets makes of `media.media_ids`. Only sizes, the first bytes and a running hash
 * are kept, never the files, so a 512 MB upload costs the emulator no memory.
 */

export type MediaState = 'uploading' | 'pending' | 'in_progress' | 'succeeded' | 'failed';

/** A post's attached media as tweets and their `includes.media` show them. */
export interface AttachedMedia {
  mediaKey: string;
  /** X's names: photo, video, animated_gif. */
  type: 'photo' | 'video' | 'animated_gif';
  url?: string;
  previewImageUrl?: string;
}

interface Upload {
  id: string;
  mediaKey: string;
  ownerId: string;
  mediaType: string;
  category: string;
  kind: MediaKind;
  totalBytes: number;
  segments: Map<number, number>;
  head: Buffer | null;
  /** sha256 of the segments received in order 0, 1, 2…; null once one came out of order or again. */
  hash: crypto.Hash | null;
  hashedSegments: number;
  state: MediaState;
  createdAtMs: number;
  finalizedAtMs: number | null;
  expiresAtMs: number;
  failProcessing: boolean;
  /** What STATUS answered, in order, so a test can see the states a client went through. */
  statesReported: MediaState[];
}

/** What the control API shows of an upload. */
export interface UploadView {
  id: string;
  media_key: string;
  owner_id: string;
  media_type: string;
  media_category: string;
  total_bytes: number;
  received_bytes: number;
  segments: number;
  /** sha256 of the bytes received, when every segment came once and in order (what a client sends); else null. */
  sha256: string | null;
  state: MediaState;
  expires_at: string;
  states_reported: MediaState[];
}

export interface MediaBehaviour {
  /** How long (emulator clock) a video's processing takes after finalize. */
  video_processing_ms: number;
  /** What initialize and finalize answer as expires_after_secs. */
  expires_after_secs: number;
}

const DEFAULT_MEDIA_BEHAVIOUR: MediaBehaviour = { video_processing_ms: 2000, expires_after_secs: 24 * 60 * 60 };

/** A refusal in X's words, with the status X gives it; the routes turn it into a problem document. */
export class MediaRefusal extends Error {
  constructor(readonly status: number, message: string, readonly parameter?: string) {
    super(message);
  }
}

// X's categories for posts, and which kind and which MIME types each takes.
const CATEGORIES: Record<string, { kind: MediaKind; types: string[] }> = {
  tweet_image: { kind: 'image', types: ['image/jpeg', 'image/pjpeg', 'image/png', 'image/webp', 'image/bmp', 'image/tiff'] },
  tweet_gif: { kind: 'gif', types: ['image/gif'] },
  tweet_video: { kind: 'video', types: ['video/mp4', 'video/quicktime', 'video/webm', 'video/mp2t'] },
};

const KEY_PREFIX: Record<MediaKind, string> = { image: '3', gif: '16', video: '7' };
const X_TYPE: Record<MediaKind, AttachedMedia['type']> = { image: 'photo', gif: 'animated_gif', video: 'video' };
export const MAX_SEGMENT_INDEX = 999;
const MEDIA_HOST = 'https://pbs.twimg.com';

export const INVALID_MEDIA_IDS = 'Your media IDs are invalid.';

export class EmulatorMedia {
  private uploads = new Map<string, Upload>();
  private sequence = 0;
  private behaviourNow: MediaBehaviour = { ...DEFAULT_MEDIA_BEHAVIOUR };

  constructor(private readonly now: () => number) {}

  private nextId(): string {
    // Snowflake-like: time first, so ids grow and look like X's.
    this.sequence = (this.sequence + 1) % 4096;
    return String((BigInt(this.now()) << 22n) | BigInt(this.sequence));
  }

  initialize(ownerId: string, input: Record<string, unknown>): { id: string; media_key: string; expires_after_secs: number } {
    const category = typeof input.media_category === 'string' ? input.media_category : inferCategory(input.media_type);
    const rules = category ? CATEGORIES[category] : undefined;
    if (!rules) throw new MediaRefusal(400, `media_category must be one of ${Object.keys(CATEGORIES).join(', ')} for a post`, 'media_category');
    if (typeof input.media_type !== 'string' || !rules.types.includes(input.media_type)) {
      throw new MediaRefusal(400, `media_type ${JSON.stringify(input.media_type)} is not allowed for ${category}`, 'media_type');
    }
    const total = input.total_bytes;
    if (typeof total !== 'number' || !Number.isInteger(total) || total <= 0) throw new MediaRefusal(400, 'total_bytes must be a whole number above 0', 'total_bytes');
    const limit = X_MEDIA_LIMIT_BYTES[rules.kind];
    if (total > limit) throw new MediaRefusal(400, `File size exceeds ${limit} bytes (the limit for ${category}).`, 'total_bytes');
    const id = this.nextId();
    const now = this.now();
    const upload: Upload = {
      id, mediaKey: `${KEY_PREFIX[rules.kind]}_${id}`, ownerId, mediaType: input.media_type, category: category as string, kind: rules.kind, totalBytes: total,
      segments: new Map(), head: null, hash: crypto.createHash('sha256'), hashedSegments: 0, state: 'uploading', createdAtMs: now, finalizedAtMs: null,
      expiresAtMs: now + this.behaviourNow.expires_after_secs * 1000, failProcessing: false, statesReported: [],
    };
    this.uploads.set(id, upload);
    return { id, media_key: upload.mediaKey, expires_after_secs: this.behaviourNow.expires_after_secs };
  }

  append(ownerId: string, id: string, segmentIndex: number, chunk: Buffer): { expires_at: number } {
    const upload = this.owned(ownerId, id);
    if (upload.state !== 'uploading') throw new MediaRefusal(400, 'The upload was already finalized.', 'id');
    if (!Number.isInteger(segmentIndex) || segmentIndex < 0 || segmentIndex > MAX_SEGMENT_INDEX) {
      throw new MediaRefusal(400, `segment_index must be a whole number from 0 to ${MAX_SEGMENT_INDEX}`, 'segment_index');
    }
    if (chunk.length === 0) throw new MediaRefusal(400, 'The media segment is empty.', 'media');
    const before = this.received(upload) - (upload.segments.get(segmentIndex) ?? 0);
    if (before + chunk.length > upload.totalBytes) throw new MediaRefusal(400, `The segments add up to more than total_bytes (${upload.totalBytes}).`, 'media');
    upload.segments.set(segmentIndex, chunk.length);
    if (upload.hash && segmentIndex === upload.hashedSegments) {
      upload.hash.update(chunk);
      upload.hashedSegments++;
    } else {
      upload.hash = null;
    }
    if (segmentIndex === 0) upload.head = Buffer.from(chunk.subarray(0, 16));
    return { expires_at: Math.floor(upload.expiresAtMs / 1000) };
  }

  /** `failProcessing`: the processing-failure fault, acted out by the video's processing. */
  finalize(ownerId: string, id: string, failProcessing: boolean): Record<string, unknown> {
    const upload = this.owned(ownerId, id);
    if (upload.state !== 'uploading') return this.describe(upload);
    const received = this.received(upload);
    if (received !== upload.totalBytes) throw new MediaRefusal(400, `Segments total ${received} bytes; total_bytes was ${upload.totalBytes}.`, 'id');
    const sniffed = upload.head ? sniffMediaType(upload.head) : null;
    if (!sniffed || sniffed.kind !== upload.kind) throw new MediaRefusal(400, `The file's content is not ${upload.mediaType}.`, 'id');
    const now = this.now();
    upload.finalizedAtMs = now;
    upload.expiresAtMs = now + this.behaviourNow.expires_after_secs * 1000;
    upload.failProcessing = failProcessing;
    upload.state = upload.kind === 'video' ? 'pending' : 'succeeded';
    return this.describe(upload);
  }

  status(ownerId: string, id: string): Record<string, unknown> {
    const upload = this.owned(ownerId, id);
    if (upload.state === 'uploading') throw new MediaRefusal(400, 'The upload has not been finalized.', 'media_id');
    const described = this.describe(upload);
    upload.statesReported.push(upload.state);
    return described;
  }

  /** The processing state on the emulator's clock: a third of the time pending, then in progress, then done. */
  private advance(upload: Upload): void {
    if (upload.finalizedAtMs === null || upload.state === 'succeeded' || upload.state === 'failed') return;
    const elapsed = this.now() - upload.finalizedAtMs;
    const total = this.behaviourNow.video_processing_ms;
    if (elapsed >= total) upload.state = upload.failProcessing ? 'failed' : 'succeeded';
    else upload.state = elapsed >= total / 3 ? 'in_progress' : 'pending';
  }

  private describe(upload: Upload): Record<string, unknown> {
    this.advance(upload);
    const data: Record<string, unknown> = {
      id: upload.id,
      media_key: upload.mediaKey,
      size: upload.totalBytes,
      expires_after_secs: Math.max(0, Math.floor((upload.expiresAtMs - this.now()) / 1000)),
    };
    if (upload.kind === 'video') {
      const total = this.behaviourNow.video_processing_ms;
      const elapsed = upload.finalizedAtMs === null ? 0 : this.now() - upload.finalizedAtMs;
      const info: Record<string, unknown> = { state: upload.state };
      if (upload.state === 'pending' || upload.state === 'in_progress') info.check_after_secs = 1;
      if (upload.state === 'in_progress') info.progress_percent = Math.min(99, Math.floor((elapsed / Math.max(1, total)) * 100));
      if (upload.state === 'succeeded') info.progress_percent = 100;
      data.processing_info = info;
    }
    return data;
  }

  /**
   * X's checks of a post's `media.media_ids`: each exists, belongs to the poster, is processed and
   * not expired; together at most 4 images, or 1 GIF, or 1 video. Throws X's refusal.
   */
  attach(ownerId: string, ids: unknown): AttachedMedia[] {
    if (!Array.isArray(ids) || ids.length === 0 || ids.some((id) => typeof id !== 'string' || !/^[0-9]{1,19}$/.test(id))) {
      throw new MediaRefusal(400, '$.media.media_ids: must be an array of 1 to 4 media ids (strings of digits)', 'media.media_ids');
    }
    const uploads = (ids as string[]).map((id) => this.uploads.get(id));
    const now = this.now();
    for (const upload of uploads) {
      if (upload) this.advance(upload);
      if (!upload || upload.ownerId !== ownerId || upload.expiresAtMs <= now || upload.state !== 'succeeded') {
        throw new MediaRefusal(400, INVALID_MEDIA_IDS, 'media.media_ids');
      }
    }
    const kinds = (uploads as Upload[]).map((upload) => upload.kind);
    const images = kinds.filter((kind) => kind === 'image').length;
    if ((images !== kinds.length && kinds.length > 1) || images > MAX_IMAGES_PER_POST) {
      throw new MediaRefusal(400, 'Your Tweet may include up to 4 photos, or 1 GIF, or 1 video.', 'media.media_ids');
    }
    return (uploads as Upload[]).map((upload) => renderable(upload.kind, upload.mediaKey, upload.id));
  }

  /** Media for a post made through the control API (another user's reply with a photo), without an upload. */
  madeUp(types: unknown): AttachedMedia[] {
    if (!Array.isArray(types)) throw new MediaRefusal(400, 'media must be a list such as [{"type":"photo"}]');
    return types.map((item) => {
      const type = (item as { type?: unknown } | null)?.type;
      const kind = Object.entries(X_TYPE).find(([, name]) => name === type)?.[0] as MediaKind | undefined;
      if (!kind) throw new MediaRefusal(400, `media type must be photo, video or animated_gif, not ${JSON.stringify(type)}`);
      const id = this.nextId();
      return renderable(kind, `${KEY_PREFIX[kind]}_${id}`, id);
    });
  }

  list(): UploadView[] {
    return [...this.uploads.values()].map((upload) => {
      this.advance(upload);
      return {
        id: upload.id, media_key: upload.mediaKey, owner_id: upload.ownerId, media_type: upload.mediaType, media_category: upload.category,
        total_bytes: upload.totalBytes, received_bytes: this.received(upload), segments: upload.segments.size,
        sha256: upload.hash ? upload.hash.copy().digest('hex') : null, state: upload.state,
        expires_at: new Date(upload.expiresAtMs).toISOString(), states_reported: [...upload.statesReported],
      };
    });
  }

  behaviour(): MediaBehaviour {
    return { ...this.behaviourNow };
  }

  setBehaviour(change: Record<string, unknown>): MediaBehaviour {
    const next = { ...this.behaviourNow };
    for (const [name, value] of Object.entries(change)) {
      if (!(name in DEFAULT_MEDIA_BEHAVIOUR)) throw new MediaRefusal(400, `unknown media behaviour '${name}'; known: ${Object.keys(DEFAULT_MEDIA_BEHAVIOUR).join(', ')}`);
      if (!(typeof value === 'number' && Number.isInteger(value) && value >= 0)) throw new MediaRefusal(400, `${name} must be a whole number, 0 or more`);
      next[name as keyof MediaBehaviour] = value;
    }
    this.behaviourNow = next;
    return { ...next };
  }

  reset(): void {
    this.uploads.clear();
    this.behaviourNow = { ...DEFAULT_MEDIA_BEHAVIOUR };
  }

  private owned(ownerId: string, id: string): Upload {
    const upload = this.uploads.get(id);
    if (!upload || upload.ownerId !== ownerId) throw new MediaRefusal(400, `There is no upload with id ${id} for this account.`, 'id');
    return upload;
  }

  private received(upload: Upload): number {
    let total = 0;
    for (const size of upload.segments.values()) total += size;
    return total;
  }
}

function inferCategory(mediaType: unknown): string | undefined {
  if (typeof mediaType !== 'string') return undefined;
  return Object.entries(CATEGORIES).find(([, rules]) => rules.types.includes(mediaType))?.[0];
}

function renderable(kind: MediaKind, mediaKey: string, id: string): AttachedMedia {
  if (kind === 'image') return { mediaKey, type: 'photo', url: `${MEDIA_HOST}/media/${mediaKey}.jpg` };
  const folder = kind === 'video' ? 'ext_tw_video_thumb' : 'tweet_video_thumb';
  return { mediaKey, type: X_TYPE[kind], previewImageUrl: `${MEDIA_HOST}/${folder}/${id}/pu/img/${mediaKey}.jpg` };
}

/** A tweet's media as `includes.media` shows them, with the media.fields asked for. */
export function renderMedia(media: AttachedMedia, fields: Set<string>): Record<string, unknown> {
  const out: Record<string, unknown> = { media_key: media.mediaKey, type: media.type };
  if (fields.has('url') && media.url) out.url = media.url;
  if (fields.has('preview_image_url') && media.previewImageUrl) out.preview_image_url = media.previewImageUrl;
  return out;
}
