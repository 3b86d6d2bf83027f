import { readRecord } from '../kb/records';
import { toIso } from '../lib/clock';
import type { Integration } from '../store/integrations';
import { MediaUploadStore, type MediaUpload } from '../store/media-uploads';
import type { Publication } from '../store/publications';
import { XPermanentError, XTransientError } from '../twitter/errors';
import type { XClient } from '../twitter/x-client';
import type { SyncDeps } from '../sync/sync-deps';
import { MB } from './media-kinds';
import { checkRecordMedia, type MediaSettings } from './record-media';
import { MediaRefusedError, uploadMediaFile } from './x-media-upload';

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
  const record = await readRecord(deps.db, { table: integration.tableName, primaryKeyColumn: integration.primaryKeyColumn }, publication.recordKey);
  if (!record) throw new MediaRefusedError('media: the record was deleted before its media were uploaded');
  if (!(integration.mediaField in record)) {
    throw new MediaRefusedError(`media: the media field '${integration.mediaField}' no longer exists in table '${integration.tableName}'; edit the integration`);
  }
  const checked = await checkRecordMedia(record[integration.mediaField], deps.settings.media ?? DEFAULT_MEDIA_SETTINGS);
  if (!checked.ok) throw new MediaRefusedError(checked.reason);
  if (checked.files.length === 0) return [];

  const store = new MediaUploadStore(deps.db);
  const kept = await store.listForPublication(publication.id);
  const goodUntil = deps.clock.now().toMillis() + EXPIRY_MARGIN_MS;
  const uploads: MediaUpload[] = [];
  for (const [position, file] of checked.files.entries()) {
    const earlier = kept.find((upload) => upload.position === position && upload.fingerprint === file.fingerprint && Date.parse(upload.expiresAt) > goodUntil);
    if (earlier) {
      uploads.push(earlier);
      continue;
    }
    const uploaded = await uploadMediaFile(x, file, deps.clock);
    uploads.push({ position, fingerprint: file.fingerprint, kind: file.type.kind, uploadedAt: toIso(deps.clock.now()), ...uploaded });
  }
  await store.replace(publication.id, uploads);
  return uploads.map((upload) => upload.mediaId);
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
