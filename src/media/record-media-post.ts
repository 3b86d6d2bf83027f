import { readFieldKeepingBlob } from '../kb/blob-field';
import { toIso } from '../lib/clock';
import type { Integration } from '../store/integrations';
import { MediaUploadStore, type MediaUpload } from '../store/media-uploads';
import type { Publication } from '../store/publications';
import { XPermanentError, XTransientError } from '../twitter/errors';
import type { XClient } from '../twitter/x-client';
import type { SyncDeps } from '../sync/sync-deps';
import { MB, SNIFF_BYTES } from './media-kinds';
import { checkRecordMedia, hashBlob, type MediaFile, type MediaSettings } from './record-media';
import { MediaRefusedError, refusingChangedBlob, uploadMediaFile } from './x-media-upload';

export const DEFAULT_MEDIA_SETTINGS: MediaSettings = { mediaDir: './data/media', maxBytes: 25 * MB };

// An id this close to its expiry is not trusted for the post that follows: it is uploaded again.
const EXPIRY_MARGIN_MS = 5 * 60_000;

/**
 * The media ids a record's post carries: its media field read now, every check made before any
 * upload (a refusal fails the record with its reason), then each file uploaded unless an upload
 * of the same file kept on the publication is still good. Uploads may repeat; the post is
 * posted once by the caller. The ids are kept before the post, with their expiry.
 */
export async function mediaIdsForRecord(deps: SyncDeps, integration: Integration, publication: Publication, x: XClient): Promise<string[]> {
  if (!integration.mediaField) return [];
  // The media field alone, a BLOB left in its row: measured now, read a chunk at a time as it is uploaded.
  const field = await readFieldKeepingBlob(
    deps.db, { table: integration.tableName, primaryKeyColumn: integration.primaryKeyColumn }, publication.recordKey, integration.mediaField, SNIFF_BYTES,
  );
  if (field.found === 'no-record') throw new MediaRefusedError('media: the record was deleted before its media were uploaded');
  if (field.found === 'no-column') {
    throw new MediaRefusedError(`media: the media field '${integration.mediaField}' no longer exists in table '${integration.tableName}'; edit the integration`);
  }
  const checked = await checkRecordMedia(field.value, deps.settings.media ?? DEFAULT_MEDIA_SETTINGS);
  if (!checked.ok) throw new MediaRefusedError(checked.reason);
  if (checked.files.length === 0) return [];

  const store = new MediaUploadStore(deps.db);
  const kept = await store.listForPublication(publication.id);
  const goodUntil = deps.clock.now().toMillis() + EXPIRY_MARGIN_MS;
  const uploads: MediaUpload[] = [];
  for (const [position, file] of checked.files.entries()) {
    const earlier = kept.find((upload) => upload.position === position && Date.parse(upload.expiresAt) > goodUntil);
    if (earlier && await sameFile(earlier, file)) {
      uploads.push(earlier);
      continue;
    }
    const uploaded = await uploadMediaFile(x, file, deps.clock);
    uploads.push({ position, kind: file.type.kind, uploadedAt: toIso(deps.clock.now()), ...uploaded });
  }
  await store.replace(publication.id, uploads);
  return uploads.map((upload) => upload.mediaId);
}

/**
 * Whether a kept upload was of this very file. A BLOB is hashed (a chunk at a time) only when the
 * kept upload is of a BLOB of its length: the upload made otherwise reads it once, not twice.
 */
async function sameFile(upload: MediaUpload, file: MediaFile): Promise<boolean> {
  if (file.source === 'file') return upload.fingerprint === file.fingerprint;
  if (!upload.fingerprint.startsWith(`blob:${file.size}:`)) return false;
  return upload.fingerprint === await refusingChangedBlob(() => hashBlob(file.blob));
}

/**
 * X refused the post's media ids (expired, or forgotten, by X's clock rather than ours): the post
 * was certainly not made, so the kept uploads are dropped and the post is retried as after a
 * transient failure, which uploads the files again.
 */
export async function afterMediaRefusal(deps: SyncDeps, publication: Publication, mediaIds: string[] | undefined, error: unknown): Promise<unknown> {
  if (!mediaIds?.length || !(error instanceof XPermanentError) || error.status !== 400 || !/media ?ids?/i.test(error.message)) return error;
  await new MediaUploadStore(deps.db).replace(publication.id, []);
  return new XTransientError(`X no longer takes the uploaded media (${error.message}); they are uploaded again before the post is retried`, { status: error.status });
}
