import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import { BlobChangedError } from '../kb/blob-field';
import type { Clock } from '../lib/clock';
import { XPermanentError, XTransientError } from '../twitter/errors';
import type { XClient } from '../twitter/x-client';
import { MEDIA_CATEGORY, UPLOAD_CHUNK_BYTES } from './media-kinds';
import { blobFingerprint, rangesOf, type MediaFile } from './record-media';

/** A refusal of the product's own before any call (a file that is not there, or no longer fits): the record fails with this reason. */
export class MediaRefusedError extends XPermanentError {}

export interface UploadedMedia {
  mediaId: string;
  mediaKey: string | null;
  /** When X forgets the id (expires_after_secs after the upload): a post after that uploads again. */
  expiresAt: string;
  /** Of the bytes sent (a BLOB's hash made as its chunks went out), so a retry can tell whether they changed. */
  fingerprint: string;
}

export { UPLOAD_CHUNK_BYTES };
// X's segment_index runs from 0 to 999.
const MAX_SEGMENTS = 1000;
// A video still processing after this long is left for the next attempt (its upload is then made again).
const MAX_PROCESSING_WAIT_MS = 10 * 60_000;

interface MediaAnswer {
  data?: {
    id?: string;
    media_key?: string;
    expires_after_secs?: number;
    processing_info?: { state?: string; check_after_secs?: number; error?: { message?: string } };
  };
}

/**
 * X's v2 chunked upload: initialize, append each chunk, finalize, then STATUS until a video's
 * processing is done. Written here over the client's v2 calls rather than through twitter-api-v2's
 * `v2.uploadMedia`, because that takes the whole file as one Buffer (a 512 MB video would need
 * 512 MB of memory) and stops waiting when X leaves out `check_after_secs`; here a file is read
 * from disk, and a BLOB from its row, a chunk at a time, and the wait follows the product's clock.
 */
export async function uploadMediaFile(x: XClient, file: MediaFile, clock: Clock): Promise<UploadedMedia> {
  const segments = Math.ceil(file.size / UPLOAD_CHUNK_BYTES);
  if (segments > MAX_SEGMENTS) throw new MediaRefusedError(`media: ${file.label} needs more than ${MAX_SEGMENTS} upload segments`);
  const init = await x.mediaWrite<MediaAnswer>('media/upload/initialize', {
    media_type: file.type.mimeType, total_bytes: file.size, media_category: MEDIA_CATEGORY[file.type.kind],
  });
  const mediaId = init.data?.id;
  if (!mediaId) throw new XTransientError('X answered the media upload without a media id');
  const fingerprint = await appendChunks(x, mediaId, file);
  const finalized = await x.mediaWrite<MediaAnswer>(`media/upload/${mediaId}/finalize`);
  let processing = finalized.data?.processing_info;
  const waitUntil = clock.now().toMillis() + MAX_PROCESSING_WAIT_MS;
  while (processing && processing.state !== 'succeeded') {
    if (processing.state === 'failed') {
      throw new XPermanentError(`X could not process the ${file.type.name} ${file.label}: ${processing.error?.message ?? 'processing failed'}`);
    }
    if (clock.now().toMillis() > waitUntil) throw new XTransientError(`X was still processing the ${file.type.name} ${file.label} after ${MAX_PROCESSING_WAIT_MS / 60_000} minutes`);
    // Without check_after_secs X still wants to be asked again, not taken at its word.
    await clock.sleep(Math.max(1, processing.check_after_secs ?? 1) * 1000);
    const status = await x.mediaRead<MediaAnswer>('media/upload', { command: 'STATUS', media_id: mediaId });
    processing = status.data?.processing_info;
  }
  const expiresAfterSecs = finalized.data?.expires_after_secs ?? init.data?.expires_after_secs ?? 24 * 60 * 60;
  return {
    mediaId,
    mediaKey: finalized.data?.media_key ?? init.data?.media_key ?? null,
    expiresAt: new Date(clock.now().toMillis() + expiresAfterSecs * 1000).toISOString(),
    fingerprint,
  };
}

/** A BLOB changed since its check: the record fails with the reason, and a retry checks it again. */
export async function refusingChangedBlob<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof BlobChangedError) throw new MediaRefusedError(`media: ${error.message}; retry the record`);
    throw error;
  }
}

/** Sends the file's chunks; answers the fingerprint of what was sent. */
async function appendChunks(x: XClient, mediaId: string, file: MediaFile): Promise<string> {
  const send = (index: number, chunk: Buffer) => x.mediaWrite(`media/upload/${mediaId}/append`, { segment_index: index, media: chunk }, true);
  if (file.source === 'blob') {
    // Each chunk read from the database just before it is sent, and hashed on its way.
    return refusingChangedBlob(async () => {
      const hash = crypto.createHash('sha256');
      let index = 0;
      for await (const chunk of rangesOf(file.blob, UPLOAD_CHUNK_BYTES)) {
        hash.update(chunk);
        await send(index++, chunk);
      }
      return blobFingerprint(file.size, hash.digest('hex'));
    });
  }
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file.path, 'r');
  } catch (error) {
    throw new MediaRefusedError(`media: the file ${file.label} can no longer be read (${(error as Error).message})`);
  }
  try {
    // One buffer for every chunk: each APPEND is answered before the next chunk is read into it.
    const buffer = Buffer.alloc(Math.min(UPLOAD_CHUNK_BYTES, file.size));
    for (let index = 0, at = 0; at < file.size; index++, at += UPLOAD_CHUNK_BYTES) {
      const chunk = buffer.subarray(0, Math.min(UPLOAD_CHUNK_BYTES, file.size - at));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, at).catch((error: Error) => {
        throw new MediaRefusedError(`media: the file ${file.label} could not be read while uploading (${error.message})`);
      });
      if (bytesRead < chunk.length) throw new MediaRefusedError(`media: the file ${file.label} became shorter while it was uploaded; retry the record`);
      await send(index, chunk);
    }
  } finally {
    await handle.close();
  }
  return file.fingerprint;
}
