import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';
import knexFactory, { type Knex } from 'knex';
import { createDb } from '../../src/db/database';
import { identifier, quoteIdentifier } from '../../src/db/dialect';
import { BLOB_RANGE_EXTENSION, hasBlobRange } from '../../src/db/sqlite-blob-range';
import { BlobChangedError, readFieldKeepingBlob, StoredBlob } from '../../src/kb/blob-field';
import { describeEachDatabase, TestEnv, type TestDatabase } from '../support/test-env';

// Names SQL must quote, and a key with both quotes and a backslash: every one reaches the range read.
const TABLE = 'clips "raw"';
const KEY_COLUMN = 'what?';
const BLOB_COLUMN = 'back\\slash?';
const KEY = "it's a \\ key";

// On SQLite, a plain knex connection reads ranges with substr(); the product's own connections
// (createDb) with incremental BLOB I/O, through the extension npm install builds.
type Reader = 'substr' | 'incremental BLOB I/O' | 'bytea';
const readers = (database: string): Reader[] => (database === 'postgres' ? ['bytea'] : ['substr', 'incremental BLOB I/O']);

describe('the SQLite BLOB range extension', () => {
  it('is built at install wherever a C compiler is there (always in CI)', function () {
    if (!process.env.CI && !fs.existsSync(BLOB_RANGE_EXTENSION)) this.skip();
    assert.ok(fs.existsSync(BLOB_RANGE_EXTENSION), `npm install builds ${BLOB_RANGE_EXTENSION}`);
  });
});

describeEachDatabase('reading a BLOB / bytea a range at a time', (database) => {
  for (const reader of readers(database)) describe(`with ${reader}`, () => rangeReads(database, reader));
});

function rangeReads(database: TestDatabase, reader: Reader): void {
  let env: TestEnv;
  let db: Knex;
  // The SQL the product's SQLite connection prepared, to tell which way a range was read.
  let prepared: string[] = [];
  afterEach(async () => {
    await db?.destroy();
    await env?.close();
  });

  // The names as the product quotes them (with no literal "?" on PostgreSQL, which knex would take
  // for a placeholder even in SQL without bindings); statements naming them go without bindings.
  const quoted = (name: string) => quoteIdentifier(db, name);
  const keyIs = () => `${quoted(KEY_COLUMN)} = '${KEY.replace(/'/g, "''")}'`;

  async function watchPrepared(): Promise<void> {
    const connection = await db.client.acquireConnection() as BetterSqlite3.Database;
    try {
      assert.ok(hasBlobRange(connection), `the product's connection has kbts_blob_range (${BLOB_RANGE_EXTENSION} is built at npm install)`);
      const prepare = connection.prepare.bind(connection);
      connection.prepare = ((sql: string) => {
        prepared.push(sql);
        return prepare(sql);
      }) as typeof connection.prepare;
    } finally {
      await db.client.releaseConnection(connection);
    }
  }

  async function storedClip(bytes: Buffer): Promise<StoredBlob> {
    env = await TestEnv.create(database);
    // One connection in the pool: a read that kept its connection would leave the next one waiting.
    db = reader === 'incremental BLOB I/O'
      ? createDb({ client: 'sqlite', connection: env.databaseUrl })
      : knexFactory(database === 'postgres'
        ? { client: 'pg', connection: env.databaseUrl, pool: { min: 0, max: 1 }, acquireConnectionTimeout: 5000 }
        : { client: 'better-sqlite3', connection: { filename: env.databaseUrl }, useNullAsDefault: true, pool: { min: 1, max: 1 }, acquireConnectionTimeout: 5000 });
    prepared = [];
    if (reader === 'incremental BLOB I/O') await watchPrepared();
    const blobType = database === 'postgres' ? 'BYTEA' : 'BLOB';
    await env.sql(`CREATE TABLE ${quoted(TABLE)} (${quoted(KEY_COLUMN)} TEXT PRIMARY KEY, ${quoted(BLOB_COLUMN)} ${blobType}, note TEXT)`);
    await env.sql(`INSERT INTO ${quoted(TABLE)} VALUES (?, ?, ?)`, [KEY, bytes, 'kept']);
    await env.sql(`INSERT INTO ${quoted(TABLE)} VALUES (?, ?, ?)`, ['another', crypto.randomBytes(100), 'other']);
    const field = await readFieldKeepingBlob(db, { table: TABLE, primaryKeyColumn: KEY_COLUMN }, KEY, BLOB_COLUMN, 16);
    assert.equal(field.found, 'value');
    const blob = (field as { value: unknown }).value;
    assert.ok(blob instanceof StoredBlob, 'the BLOB is left in its row');
    return blob;
  }

  it('reads every range of a value byte for byte, the last one short, on one pooled connection that each read gives back', async () => {
    const bytes = crypto.randomBytes(3 * 65536 + 1234);
    const blob = await storedClip(bytes);
    assert.equal(blob.size, bytes.length);
    assert.deepEqual(blob.head, bytes.subarray(0, 16));
    const range = 65536;
    const parts: Buffer[] = [];
    for (let offset = 0; offset < bytes.length; offset += range) parts.push(await blob.read(offset, range));
    assert.deepEqual(parts.map((part) => part.length), [range, range, range, 1234]);
    assert.ok(Buffer.concat(parts).equals(bytes), 'the ranges put together are the value');
    assert.ok((await blob.read(1000, 7)).equals(bytes.subarray(1000, 1007)));
    assert.equal((await blob.read(bytes.length, 10)).length, 0, 'a range past the end is empty');
    const [other] = await db.from(identifier(db, TABLE)).select('note').whereRaw('? = ?', [identifier(db, KEY_COLUMN), KEY]);
    assert.equal(other.note, 'kept', 'the connection answers the next query');
    if (reader === 'incremental BLOB I/O') assert.ok(prepared.some((sql) => sql.includes('kbts_blob_range(')), 'the ranges were read by incremental BLOB I/O');
  });

  if (reader === 'incremental BLOB I/O') {
    it('reads a table WITHOUT ROWID, or one with a column of its own named _rowid_, with substr, byte for byte', async () => {
      const bytes = crypto.randomBytes(70_000);
      await storedClip(Buffer.alloc(1));
      await env.sql('CREATE TABLE no_rowids (name TEXT PRIMARY KEY, clip BLOB) WITHOUT ROWID');
      await env.sql('CREATE TABLE own_rowid (name TEXT PRIMARY KEY, _rowid_ INTEGER, clip BLOB)');
      for (const table of ['no_rowids', 'own_rowid']) {
        await env.sql(`INSERT INTO ${table} (name, clip) VALUES (?, ?)`, ['a', bytes]);
        prepared = [];
        const field = await readFieldKeepingBlob(db, { table, primaryKeyColumn: 'name' }, 'a', 'clip', 16);
        const blob = (field as { value: StoredBlob }).value;
        assert.ok(blob instanceof StoredBlob, table);
        assert.ok(Buffer.concat([await blob.read(0, 65536), await blob.read(65536, 65536)]).equals(bytes), table);
        assert.ok(!prepared.some((sql) => sql.includes('kbts_blob_range(')), `${table}: no rowid to open the BLOB by`);
      }
    });
  }

  it('reads a value with no bytes at all', async () => {
    const blob = await storedClip(Buffer.alloc(0));
    assert.equal(blob.size, 0);
    assert.equal((await blob.read(0, 1024)).length, 0);
  });

  it('refuses a range of a record deleted since it was measured, and goes on answering', async () => {
    const blob = await storedClip(crypto.randomBytes(5000));
    await env.sql(`DELETE FROM ${quoted(TABLE)} WHERE ${keyIs()}`);
    await assert.rejects(blob.read(0, 1000), (error: Error) => error instanceof BlobChangedError
      && error.message === `the record ${KEY} was deleted while the BLOB in column '${BLOB_COLUMN}' of record ${KEY} was read`);
    const rows = await db.from(identifier(db, TABLE)).select('note');
    assert.deepEqual(rows.map((row) => row.note), ['other']);
  });

  it('refuses a range of a value emptied since it was measured', async () => {
    const blob = await storedClip(crypto.randomBytes(5000));
    await env.sql(`UPDATE ${quoted(TABLE)} SET ${quoted(BLOB_COLUMN)} = NULL WHERE ${keyIs()}`);
    await assert.rejects(blob.read(0, 1000), (error: Error) => error instanceof BlobChangedError
      && error.message === `the BLOB in column '${BLOB_COLUMN}' of record ${KEY} was emptied or replaced by text while it was read (it held 5000 bytes)`);
  });

  it('refuses a range of a value whose length changed since it was measured, rather than mix old and new bytes', async () => {
    const blob = await storedClip(crypto.randomBytes(5000));
    assert.equal((await blob.read(0, 1000)).length, 1000);
    const fourThousandBytes = database === 'postgres' ? "decode(repeat('ab', 4000), 'hex')" : 'randomblob(4000)';
    await env.sql(`UPDATE ${quoted(TABLE)} SET ${quoted(BLOB_COLUMN)} = ${fourThousandBytes} WHERE ${keyIs()}`);
    await assert.rejects(blob.read(1000, 1000), (error: Error) => error instanceof BlobChangedError
      && error.message === `the BLOB in column '${BLOB_COLUMN}' of record ${KEY} changed while it was read: it holds 4000 bytes now, 5000 when it was checked`);
  });
}
