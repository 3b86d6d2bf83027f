import fs from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import express from 'express';
import { BlobChangedError, readFieldKeepingBlob } from '../../kb/blob-field';
import { updateRecord } from '../../kb/records';
import { MediaRefusedFileError, NotFoundError, UserFacingError } from '../../lib/errors';
import { receiveMediaFile } from '../../media/media-intake';
import { SNIFF_BYTES } from '../../media/media-kinds';
import { mediaPaths, checkRecordMedia, rangesOf } from '../../media/record-media';
import type { Integration } from '../../store/integrations';
import { MediaUploadStore } from '../../store/media-uploads';
import type { WebContext } from '../context';
import { knownTableOrFail } from '../kb-tables';
import { requirePermission } from '../middleware/auth';

/**
 * The media field on the web: files sent from the record form (streamed into the media folder,
 * or, for a BLOB / bytea field, into the record), and the record's files served back for the
 * record page. Every file goes through the publisher's own checks, so nothing outside the media
 * folder is ever served. The upload is a PUT of the file itself from the page's script, with the
 * CSRF token as the x-csrf-token header (no multipart parser is installed: multer and busboy are not).
 */
export function mediaRoutes({ services }: WebContext): express.Router {
  const router = express.Router();
  const settings = services.config.media;

  async function mediaIntegration(tableParam: unknown, integrationParam: unknown): Promise<{ table: Awaited<ReturnType<typeof knownTableOrFail>>; integration: Integration }> {
    const table = await knownTableOrFail(services.db, tableParam);
    const integration = await services.integrations.get(Number(integrationParam));
    if (!integration || integration.tableName !== table.name || !integration.mediaField) {
      throw new NotFoundError(`No integration ${String(integrationParam)} of table '${table.name}' has a media field.`);
    }
    return { table, integration };
  }

  const fileName = (req: express.Request) => decodeURIComponent(req.get('x-file-name') ?? 'file');

  // Into the media folder: the form puts the path it answers into the media field.
  router.put('/media/files', requirePermission('write-records'), async (req, res) => {
    const received = await receiveMediaFile(req, fileName(req), settings);
    res.status(201).json({ path: received.relativePath, size: received.size });
  });

  // Into a record: its path added to a text media field, or its bytes into a BLOB / bytea one.
  router.put('/records/:table/rows/:key/media/:integration', requirePermission('write-records'), async (req, res) => {
    const { table, integration } = await mediaIntegration(req.params.table, req.params.integration);
    const key = String(req.params.key);
    const field = integration.mediaField as string;
    // The media field alone: a BLOB already there is replaced, never read.
    const stored = await readFieldKeepingBlob(services.db, { table: table.name, primaryKeyColumn: integration.primaryKeyColumn }, key, field, SNIFF_BYTES);
    if (stored.found === 'no-record') throw new NotFoundError(`Table '${table.name}' has no record ${key}.`);
    const column = table.columns.find((candidate) => candidate.name === field);
    const received = await receiveMediaFile(req, fileName(req), settings);
    try {
      let value: string | Buffer;
      if (column && !column.isText) {
        // Within KBTS_MEDIA_MAX_MB, checked as it arrived: the column takes the bytes at once.
        value = await fs.promises.readFile(received.file);
        await fs.promises.rm(received.file, { force: true });
      } else {
        const current = stored.found === 'value' ? stored.value : undefined;
        value = [...(typeof current === 'string' ? mediaPaths(current) : []), received.relativePath].join('\n');
      }
      const checked = await checkRecordMedia(value, settings);
      if (!checked.ok) throw new MediaRefusedFileError(checked.reason.replace(/^media: /, ''));
      await updateRecord(services.db, table, key, { [field]: value as unknown as string });
    } catch (error) {
      await fs.promises.rm(received.file, { force: true });
      throw error;
    }
    res.status(201).json({ path: received.relativePath, message: `The file is in the media field '${field}' of record ${key}.` });
  });

  // One of the record's files, for its page (thumbnails, links). A BLOB is sent a chunk at a time, as it is read from its row.
  router.get('/records/:table/rows/:key/media/:integration/:index', async (req, res) => {
    const { table, integration } = await mediaIntegration(req.params.table, req.params.integration);
    const stored = await readFieldKeepingBlob(
      services.db, { table: table.name, primaryKeyColumn: integration.primaryKeyColumn }, String(req.params.key), integration.mediaField as string, SNIFF_BYTES,
    );
    const checked = stored.found === 'value' ? await checkRecordMedia(stored.value, settings) : null;
    const file = checked?.ok ? checked.files[Number(req.params.index)] : undefined;
    if (!file) throw new NotFoundError('This record has no such media file.');
    res.setHeader('content-type', file.type.mimeType);
    res.setHeader('content-length', String(file.size));
    res.setHeader('x-content-type-options', 'nosniff');
    if (file.source === 'file') {
      fs.createReadStream(file.path).pipe(res);
      return;
    }
    try {
      await pipeline(Readable.from(rangesOf(file.blob)), res);
    } catch (error) {
      // Once bytes went out the connection is closed (pipeline did): a changed BLOB is never served half old, half new.
      if (res.headersSent) return;
      if (error instanceof BlobChangedError) throw new UserFacingError('refused', `${error.message}; reload the page`, { status: 409 });
      throw error;
    }
  });

  return router;
}

/** What the record page shows of a record's media field: its files checked, or the reason they would be refused. */
export async function recordMediaView(value: unknown, settings: WebContext['services']['config']['media']) {
  const checked = await checkRecordMedia(value, settings);
  if (!checked.ok) return { files: [], refusal: checked.reason };
  return { files: checked.files.map((file) => ({ label: file.label, kind: file.type.kind, name: file.type.name, size: file.size })), refusal: null };
}


/** The record page's media section: per integration with a media field, the record's files and what its tweet carried. */
export async function mediaOnRecordPage(services: WebContext['services'], integrations: Integration[], record: Record<string, unknown>, publicationIds: Map<number, number | null>) {
  const uploads = new MediaUploadStore(services.db);
  return Promise.all(integrations.filter((integration) => integration.mediaField).map(async (integration) => {
    const field = integration.mediaField as string;
    const publicationId = publicationIds.get(integration.id) ?? null;
    return {
      integration,
      field,
      ...(await recordMediaView(record[field], services.config.media)),
      posted: publicationId === null ? [] : await uploads.listForPublication(publicationId),
    };
  }));
}
