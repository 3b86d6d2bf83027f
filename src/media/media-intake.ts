import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MediaRefusedFileError, UserFacingError } from '../lib/errors';
import { megabytes, sizeRefusal, sniffMediaType, SNIFF_BYTES, X_MEDIA_LIMIT_BYTES } from './media-kinds';
import type { MediaSettings } from './record-media';

/** Where files given through the web are kept, inside the media folder. */
export const UPLOADS_FOLDER = 'uploads';

/**
 * A file sent from the record form, streamed to the media folder (never held whole in memory),
 * then checked as the publisher checks it: its type from its content, its size. Answers the path
 * relative to the media folder, as a media field holds it. A refusal says why, and keeps nothing.
 */
export async function receiveMediaFile(body: Readable, givenName: string, settings: MediaSettings): Promise<{ relativePath: string; file: string; size: number }> {
  const cap = Math.min(settings.maxBytes, Math.max(...Object.values(X_MEDIA_LIMIT_BYTES)));
  const safeName = path.basename(givenName).replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '').slice(-80) || 'file';
  const relativePath = path.posix.join(UPLOADS_FOLDER, `${crypto.randomBytes(6).toString('hex')}-${safeName}`);
  const file = path.join(settings.mediaDir, relativePath);
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  let size = 0;
  let head = Buffer.alloc(0);
  try {
    await pipeline(body, async function* (chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        size += chunk.length;
        if (size > cap) throw new UserFacingError('media_refused', `the file is larger than ${megabytes(cap)}, the most this installation posts (KBTS_MEDIA_MAX_MB)`, { status: 413 });
        if (head.length < SNIFF_BYTES) head = Buffer.concat([head, chunk.subarray(0, SNIFF_BYTES - head.length)]);
        yield chunk;
      }
    }, fs.createWriteStream(file, { flags: 'wx' }));
    const type = sniffMediaType(head);
    if (!type) throw new MediaRefusedFileError(`'${safeName}' is not a file X takes: its content is not JPEG, PNG, WEBP, GIF, MP4 or MOV (the name does not count)`);
    const tooBig = sizeRefusal(type, size, settings.maxBytes);
    if (tooBig) throw new MediaRefusedFileError(tooBig);
    return { relativePath, file, size };
  } catch (error) {
    await fs.promises.rm(file, { force: true });
    throw error;
  }
}
