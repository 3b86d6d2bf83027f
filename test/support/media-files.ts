import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

/**
 * Media files made in code, so none is committed. The PNG and the GIF are complete, valid 1×1
 * images (a PNG's chunks with their CRCs; the smallest GIF89a). The JPEG, WEBP, MP4 and MOV are
 * each format's real leading structure (JPEG's SOI/APP0, RIFF/WEBP, an ISO "ftyp" box) followed by
 * filler: what the product and the emulator check is the content's type and size, never the pixels.
 */

function crc32(bytes: Buffer): number {
  let crc = ~0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return ~crc >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A valid 1×1 PNG, `padding` bytes of ancillary text chunk making it bigger when asked. */
export function png(padding = 0): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(1, 0);
  header.writeUInt32BE(1, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // truecolour
  const pixels = zlib.deflateSync(Buffer.from([0, 0x1d, 0x9b, 0xf0]));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header),
    ...(padding > 0 ? [pngChunk('tEXt', Buffer.concat([Buffer.from('Comment\0'), Buffer.alloc(padding, 0x61)]))] : []),
    pngChunk('IDAT', pixels),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** The smallest valid GIF89a: one transparent pixel. */
export function gif(): Buffer {
  return Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
}

export function jpeg(size = 64): Buffer {
  const head = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01]);
  return Buffer.concat([head, Buffer.alloc(Math.max(0, size - head.length - 2)), Buffer.from([0xff, 0xd9])]);
}

export function webp(size = 64): Buffer {
  const out = Buffer.alloc(Math.max(size, 16));
  out.write('RIFF', 0, 'ascii');
  out.writeUInt32LE(out.length - 8, 4);
  out.write('WEBPVP8L', 8, 'ascii');
  return out;
}

function ftyp(brand: string): Buffer {
  const box = Buffer.alloc(20);
  box.writeUInt32BE(20, 0);
  box.write('ftyp', 4, 'ascii');
  box.write(brand, 8, 'ascii');
  box.write(brand, 16, 'ascii');
  return box;
}

/** An MP4 (or MOV) of `size` bytes, small enough to hold in memory. */
export function mp4(size = 1024, brand = 'isom'): Buffer {
  const head = ftyp(brand);
  return Buffer.concat([head, Buffer.alloc(Math.max(0, size - head.length), 0x42)]);
}

/** Writes an MP4 of `size` bytes to `file` a megabyte at a time, so a big one never sits in memory. */
export function writeMp4File(file: string, size: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, ftyp('isom'));
    const block = Buffer.alloc(1024 * 1024, 0x42);
    for (let written = 20; written < size;) {
      const length = Math.min(block.length, size - written);
      fs.writeSync(fd, block, 0, length);
      written += length;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** A file of this content in the media folder, at a path relative to it. */
export function putMedia(mediaDir: string, relative: string, content: Buffer): string {
  const file = path.join(mediaDir, relative);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  return file;
}
