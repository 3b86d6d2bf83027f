import { MediaRefusal } from './media';
import { invalidRequest, XApiProblem, type XResponse } from './problems';
import { Params, parseJsonBody, requirePathId, type Context, type Route } from './x-api-routes';

/**
 * /2/media/upload: initialize, append, finalize and STATUS, with the shapes of the OpenAPI
 * description (initialize, append and finalize answer 200). The state lives in ./media.ts.
 */

// X takes APPEND segments of up to 5 MB, sent as multipart with a little framing around them.
export const MEDIA_APPEND_MAX_BODY_BYTES = 5 * 1024 * 1024 + 64 * 1024;

function refused(run: () => XResponse): XResponse {
  try {
    return run();
  } catch (error) {
    if (!(error instanceof MediaRefusal)) throw error;
    throw new XApiProblem(invalidRequest([error.parameter ? { parameter: error.parameter, value: '', message: error.message } : { message: error.message }]));
  }
}

function jsonObject(ctx: Context): Record<string, unknown> {
  const body = parseJsonBody(ctx);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new XApiProblem(invalidRequest([{ message: 'Request body must be a JSON object.' }]));
  return body as Record<string, unknown>;
}

function initialize(ctx: Context): XResponse {
  new Params(ctx.query, []).done();
  const body = jsonObject(ctx);
  return refused(() => ({ status: 200, body: { data: ctx.state.media.initialize(ctx.user.id, body) } }));
}

function append(ctx: Context): XResponse {
  new Params(ctx.query, []).done();
  const id = requirePathId(ctx.pathParams[0]);
  let segmentIndex: number;
  let media: Buffer;
  if (/^multipart\/form-data\b/i.test(ctx.contentType)) {
    const fields = parseMultipart(ctx.body.raw ?? Buffer.alloc(0), ctx.contentType);
    segmentIndex = Number(fields.get('segment_index')?.toString('utf8') ?? NaN);
    media = fields.get('media') ?? Buffer.alloc(0);
  } else {
    // The JSON form carries the segment base64-encoded.
    const body = jsonObject(ctx);
    segmentIndex = typeof body.segment_index === 'number' ? body.segment_index : NaN;
    media = typeof body.media === 'string' ? Buffer.from(body.media, 'base64') : Buffer.alloc(0);
  }
  return refused(() => ({ status: 200, body: { data: ctx.state.media.append(ctx.user.id, id, segmentIndex, media) } }));
}

function finalize(ctx: Context): XResponse {
  new Params(ctx.query, []).done();
  const id = requirePathId(ctx.pathParams[0]);
  const failProcessing = ctx.fault?.kind === 'processing_failed';
  return refused(() => ({ status: 200, body: { data: ctx.state.media.finalize(ctx.user.id, id, failProcessing) } }));
}

function status(ctx: Context): XResponse {
  const p = new Params(ctx.query, ['command', 'media_id']);
  const command = p.get('command');
  if (command !== undefined && command !== 'STATUS') p.fail('command', command, 'The `command` query parameter value must be STATUS');
  const mediaId = p.get('media_id');
  if (mediaId === undefined || !/^[0-9]{1,19}$/.test(mediaId)) p.fail('media_id', mediaId ?? '', 'The `media_id` query parameter must be a media id');
  p.done();
  return refused(() => ({ status: 200, body: { data: ctx.state.media.status(ctx.user.id, mediaId as string) } }));
}

export const MEDIA_ROUTES: Route[] = [
  { method: 'POST', key: 'POST /2/media/upload/initialize', pattern: /^\/2\/media\/upload\/initialize\/?$/, access: 'write', handle: initialize },
  {
    method: 'POST', key: 'POST /2/media/upload/:id/append', pattern: /^\/2\/media\/upload\/([^/]+)\/append\/?$/, access: 'write', handle: append,
    maxBodyBytes: MEDIA_APPEND_MAX_BODY_BYTES,
  },
  { method: 'POST', key: 'POST /2/media/upload/:id/finalize', pattern: /^\/2\/media\/upload\/([^/]+)\/finalize\/?$/, access: 'write', handle: finalize },
  { method: 'GET', key: 'GET /2/media/upload', pattern: /^\/2\/media\/upload\/?$/, access: 'write', handle: status },
];

/** The fields of a buffered multipart/form-data body (the emulator holds one segment at a time). */
export function parseMultipart(body: Buffer, contentType: string): Map<string, Buffer> {
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const fields = new Map<string, Buffer>();
  if (!boundary) return fields;
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  let at = body.indexOf(delimiter);
  while (at !== -1) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next === -1) break;
    // A part: CRLF, headers, a blank line, the content, CRLF before the next delimiter.
    const part = body.subarray(start + 2, next - 2);
    const headerEnd = part.indexOf('\r\n\r\n');
    if (headerEnd !== -1) {
      const name = /name="([^"]*)"/i.exec(part.subarray(0, headerEnd).toString('utf8'))?.[1];
      if (name !== undefined) fields.set(name, part.subarray(headerEnd + 4));
    }
    at = next;
  }
  return fields;
}

