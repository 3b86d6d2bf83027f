import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { StoredBlob } from '../kb/blob-field';
import { mixRefusal, sizeRefusal, sniffMediaType, SNIFF_BYTES, UPLOAD_CHUNK_BYTES, type MediaType } from './media-kinds';

/** Where a post's files come from, and the product's own cap. */
export interface MediaSettings {
  /** Paths in a text media field are relative to this folder (KBTS_MEDIA_DIR). */
  mediaDir: string;
  /** KBTS_MEDIA_MAX_MB, in bytes. */
  maxBytes: number;
}

/**
 * Bytes read a range at a time: a BLOB left in its row (a StoredBlob), or bytes already in memory
 * (a value sent from the record form). Reading a range of a StoredBlob refuses a changed value.
 */
export interface ByteRanges {
  readonly size: number;
  /** The first bytes, SNIFF_BYTES of them or the whole of a shorter value. */
  readonly head: Buffer;
  read(offset: number, length: number): Promise<Buffer>;
}

/** One file of a record's post, checked: its type from its content and its size. */
export type MediaFile = {
  type: MediaType;
  size: number;
  /** How messages name it: the path as written, quoted, or "from the BLOB column". */
  label: string;
} & (
  /** fingerprint: tells an earlier upload of the same file apart from one of a changed file. */
  | { source: 'file'; path: string; fingerprint: string }
  /** A BLOB's fingerprint is its bytes' hash, made only when needed (blobFingerprint). */
  | { source: 'blob'; blob: ByteRanges }
);

export type MediaCheck = { ok: true; files: MediaFile[] } | { ok: false; reason: string };

type Refusal = { ok: false; reason: string };

const refuse = (reason: string): Refusal => ({ ok: false, reason: `media: ${reason}` });

/** A text media field's paths: one per line, blank lines left out. */
export function mediaPaths(value: string): string[] {
  return value.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '');
}

/** True for what a BLOB / bytea column gives back (better-sqlite3 and pg both give a Buffer), or a BLOB left in its row. */
export function isBlobValue(value: unknown): value is Buffer | StoredBlob {
  return Buffer.isBuffer(value) || value instanceof Uint8Array || value instanceof StoredBlob;
}

/** Bytes in memory as ranges. */
export function bytesInMemory(value: Uint8Array): ByteRanges {
  const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return { size: bytes.length, head: bytes.subarray(0, SNIFF_BYTES), read: async (offset, length) => bytes.subarray(offset, offset + length) };
}

/** The ranges of `bytes` in order, `chunkBytes` at a time: only one of them in memory at once. */
export async function* rangesOf(bytes: ByteRanges, chunkBytes = UPLOAD_CHUNK_BYTES): AsyncGenerator<Buffer> {
  for (let at = 0; at < bytes.size; at += chunkBytes) yield await bytes.read(at, Math.min(chunkBytes, bytes.size - at));
}

/** A BLOB's fingerprint: its length and its bytes' sha256, as uploads keep it. */
export const blobFingerprint = (size: number, sha256: string) => `blob:${size}:${sha256}`;

/** The fingerprint of a BLOB's bytes, hashed a range at a time. */
export async function hashBlob(bytes: ByteRanges): Promise<string> {
  const hash = crypto.createHash('sha256');
  for await (const chunk of rangesOf(bytes)) hash.update(chunk);
  return blobFingerprint(bytes.size, hash.digest('hex'));
}

/**
 * Every check before any upload, each refusal with its reason in words: the paths stay inside the
 * media folder (no `../`, no absolute path, no symlink out), each file exists and can be read, its
 * type comes from its first bytes, its size is within X's limit for the type and the product's cap,
 * and the files together fit in one post. Only the first bytes of a file or a BLOB are read here.
 */
export async function checkRecordMedia(value: unknown, settings: MediaSettings): Promise<MediaCheck> {
  if (value === null || value === undefined) return { ok: true, files: [] };
  if (isBlobValue(value)) {
    // A StoredBlob was measured in SQL: its length and first bytes are all that is read here.
    const blob = value instanceof StoredBlob ? value : bytesInMemory(value);
    if (blob.size === 0) return { ok: true, files: [] };
    const type = sniffMediaType(blob.head.subarray(0, SNIFF_BYTES));
    if (!type) return refuse(`the BLOB is not a file X takes: its content is not JPEG, PNG, WEBP, GIF, MP4 or MOV`);
    const tooBig = sizeRefusal(type, blob.size, settings.maxBytes);
    if (tooBig) return refuse(tooBig);
    return { ok: true, files: [{ source: 'blob', blob, type, size: blob.size, label: 'from the BLOB column' }] };
  }
  const paths = mediaPaths(String(value));
  const files: MediaFile[] = [];
  const folder = await realFolder(settings.mediaDir);
  for (const written of paths) {
    const checked = await checkFile(written, folder, settings);
    if (!checked.ok) return checked;
    files.push(checked.file);
  }
  const mix = mixRefusal(files.map((file) => file.type.kind));
  if (mix) return refuse(mix);
  return { ok: true, files };
}

async function realFolder(mediaDir: string): Promise<string | null> {
  try {
    return await fs.realpath(mediaDir);
  } catch {
    return null;
  }
}

async function checkFile(written: string, folder: string | null, settings: MediaSettings): Promise<{ ok: true; file: MediaFile } | Refusal> {
  const name = `'${written}'`;
  if (path.isAbsolute(written) || /^[a-zA-Z]:[\\/]/.test(written)) {
    return refuse(`${name} is an absolute path; write paths relative to the media folder ${settings.mediaDir}`);
  }
  const resolved = path.resolve(settings.mediaDir, written);
  if (!isInside(path.resolve(settings.mediaDir), resolved)) {
    return refuse(`${name} leads out of the media folder ${settings.mediaDir}; only files inside it are posted`);
  }
  if (folder === null) return refuse(`the media folder ${settings.mediaDir} does not exist, so ${name} cannot be found (set KBTS_MEDIA_DIR)`);
  let real: string;
  try {
    real = await fs.realpath(resolved);
  } catch (error) {
    return refuse(fileProblem(name, error, settings.mediaDir));
  }
  // The path as written stays inside; its target must too (a symlink may point anywhere).
  if (!isInside(folder, real)) {
    return refuse(`${name} is a link to a file outside the media folder ${settings.mediaDir}; only files inside it are posted`);
  }
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(real, 'r');
    const stat = await handle.stat();
    if (!stat.isFile()) return refuse(`${name} is not a file`);
    const head = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await handle.read(head, 0, SNIFF_BYTES, 0);
    const type = sniffMediaType(head.subarray(0, bytesRead));
    if (!type) {
      return refuse(`${name} is not a file X takes: its content is not JPEG, PNG, WEBP, GIF, MP4 or MOV (the name does not count)`);
    }
    const tooBig = sizeRefusal(type, stat.size, settings.maxBytes);
    if (tooBig) return refuse(`${name}: ${tooBig}`);
    return {
      ok: true,
      file: { source: 'file', path: real, type, size: stat.size, fingerprint: `file:${written}:${stat.size}:${stat.mtimeMs}`, label: name },
    };
  } catch (error) {
    return refuse(fileProblem(name, error, settings.mediaDir));
  } finally {
    await handle?.close();
  }
}

function isInside(folder: string, target: string): boolean {
  const relative = path.relative(folder, target);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

function fileProblem(name: string, error: unknown, mediaDir: string): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return `there is no file ${name} in the media folder ${mediaDir}`;
  if (code === 'EACCES' || code === 'EPERM') return `the file ${name} cannot be read (permission denied)`;
  if (code === 'EISDIR') return `${name} is a folder, not a file`;
  return `the file ${name} cannot be read (${(error as Error).message})`;
}
