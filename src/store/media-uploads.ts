import type { Knex } from 'knex';
import type { MediaKind } from '../media/media-kinds';

/** A file uploaded for a record's post: X's id for it, until it expires. */
export interface MediaUpload {
  position: number;
  fingerprint: string;
  mediaId: string;
  mediaKey: string | null;
  kind: MediaKind;
  expiresAt: string;
  uploadedAt: string;
}

interface MediaUploadRow {
  publication_id: number;
  position: number;
  fingerprint: string;
  media_id: string;
  media_key: string | null;
  kind: MediaKind;
  expires_at: string;
  uploaded_at: string;
}

/** kbts_media_uploads: the uploads kept on a publication, so a retried post reuses them before they expire. */
export class MediaUploadStore {
  constructor(private readonly db: Knex) {}

  with(db: Knex): MediaUploadStore {
    return new MediaUploadStore(db);
  }

  async listForPublication(publicationId: number): Promise<MediaUpload[]> {
    const rows = await this.db<MediaUploadRow>('kbts_media_uploads').where({ publication_id: publicationId }).orderBy('position');
    return rows.map((row) => ({
      position: row.position, fingerprint: row.fingerprint, mediaId: row.media_id, mediaKey: row.media_key,
      kind: row.kind, expiresAt: row.expires_at, uploadedAt: row.uploaded_at,
    }));
  }

  /** The post's uploads now: what was kept before is replaced in one transaction. */
  async replace(publicationId: number, uploads: MediaUpload[]): Promise<void> {
    await this.db.transaction(async (trx) => {
      await trx('kbts_media_uploads').where({ publication_id: publicationId }).delete();
      if (uploads.length === 0) return;
      await trx('kbts_media_uploads').insert(uploads.map((upload) => ({
        publication_id: publicationId, position: upload.position, fingerprint: upload.fingerprint, media_id: upload.mediaId,
        media_key: upload.mediaKey, kind: upload.kind, expires_at: upload.expiresAt, uploaded_at: upload.uploadedAt,
      })));
    });
  }
}
