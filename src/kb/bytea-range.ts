import type { Knex } from 'knex';
import type { PoolClient } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { quoteIdentifier } from '../db/dialect';
import type { BlobLocation } from './blob-field';

/** A bytea's length now and the range asked for; undefined when the record is gone. */
export interface ByteaRange {
  size: number | null;
  part: Buffer | null;
}

// PostgreSQL's binary COPY: an 11-byte signature, 32-bit flags, the length of a header extension.
const COPY_SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const COPY_HEADER_BYTES = COPY_SIGNATURE.length + 8;

/**
 * One range of a bytea value, with the value's length, read through `COPY (SELECT …) TO STDOUT`
 * in binary format (pg-copy-streams). A plain SELECT of a 2 MB range came back as one 4 MB hex
 * message that node-postgres gathers in a buffer doubled from 64 KB (16 MB allocated) and
 * decodes to a 4 MB string: 80 MB more for a 100 MB video. COPY hands over the raw bytes as they
 * arrive, and they are copied once, into the range's own buffer.
 *
 * COPY takes no bound parameters: the key is quoted by node-postgres's `escapeLiteral`, the names
 * as everywhere else, and the numbers are the product's own integers.
 */
export async function readByteaRange(db: Knex, location: BlobLocation, offset: number, length: number): Promise<ByteaRange | undefined> {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new Error(`a bytea range is whole bytes from 0: ${offset} for ${length}`);
  }
  const connection = await db.client.acquireConnection() as PoolClient;
  try {
    const column = quoteIdentifier(db, location.column);
    const sql = `COPY (SELECT octet_length(${column}), substring(${column} from ${offset + 1} for ${length})`
      + ` FROM ${quoteIdentifier(db, location.table)} WHERE ${quoteIdentifier(db, location.keyColumn)} = ${connection.escapeLiteral(location.key)})`
      + ' TO STDOUT (FORMAT binary)';
    const reader = new ChunkReader(connection.query(copyTo(sql))[Symbol.asyncIterator]() as AsyncIterator<Buffer>);
    try {
      return await readOneRow(reader);
    } finally {
      // The connection is only free for the next query once the COPY has ended.
      await reader.drain();
    }
  } finally {
    await db.client.releaseConnection(connection);
  }
}

async function readOneRow(reader: ChunkReader): Promise<ByteaRange | undefined> {
  const header = await reader.bytes(COPY_HEADER_BYTES);
  if (!header.subarray(0, COPY_SIGNATURE.length).equals(COPY_SIGNATURE)) throw new Error('PostgreSQL answered the bytea COPY in an unknown format');
  await reader.bytes(header.readUInt32BE(COPY_SIGNATURE.length + 4));
  const fields = (await reader.bytes(2)).readInt16BE(0);
  // -1 is the trailer: no row matched the key.
  if (fields === -1) return undefined;
  if (fields !== 2) throw new Error(`PostgreSQL answered the bytea COPY with ${fields} fields where 2 were asked for`);
  const size = await reader.field();
  const part = await reader.field();
  return { size: size === null ? null : size.readInt32BE(0), part };
}

/** The bytes of a COPY, taken in the sizes the format asks for, whatever sizes they arrive in. */
class ChunkReader {
  private current: Buffer = Buffer.alloc(0);
  private at = 0;

  constructor(private readonly chunks: AsyncIterator<Buffer>) {}

  /** One field: its 32-bit length (-1 for NULL), then that many bytes. */
  async field(): Promise<Buffer | null> {
    const length = (await this.bytes(4)).readInt32BE(0);
    return length === -1 ? null : this.bytes(length);
  }

  async bytes(count: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(count);
    for (let filled = 0; filled < count;) {
      if (this.at === this.current.length) {
        const next = await this.chunks.next();
        if (next.done) throw new Error('PostgreSQL ended the bytea COPY early');
        this.current = next.value;
        this.at = 0;
      }
      const taken = this.current.copy(out, filled, this.at, Math.min(this.current.length, this.at + count - filled));
      filled += taken;
      this.at += taken;
    }
    return out;
  }

  async drain(): Promise<void> {
    this.current = Buffer.alloc(0);
    this.at = 0;
    for (let next = await this.chunks.next(); !next.done; next = await this.chunks.next());
  }
}
