import assert from 'node:assert/strict';
import { createDb, migrateToLatest, type Db } from '../../src/db/database';
import { captureTriggerExists, installCaptureTrigger, removeCaptureTrigger } from '../../src/db/dialect';
import { migrationSource } from '../../src/db/migration-source';
import { describeTable, listTables } from '../../src/kb/schema';
import { CommunicationStore } from '../../src/store/communications';
import { LeaseStore } from '../../src/store/leases';
import { PublicationStore } from '../../src/store/publications';
import { describeEachDatabase, TestEnv } from '../support/test-env';

describeEachDatabase('database', (database) => {
  let world: TestEnv;
  let db: Db;

  beforeEach(async () => {
    world = await TestEnv.create(database);
    db = createDb(database === 'postgres'
      ? { client: 'postgres', connection: world.databaseUrl }
      : { client: 'sqlite', connection: world.databaseUrl });
    await migrateToLatest(db);
  });
  afterEach(async () => {
    await db.destroy();
    await world.close();
  });

  it('runs every migration on a fresh database, rolls all back, and applies them again', async () => {
    const tables = ['kbts_users', 'kbts_accounts', 'kbts_integrations', 'kbts_publications', 'kbts_communications', 'kbts_leases', 'kbts_sessions', 'kbts_api_tokens'];
    for (const table of tables) assert.ok(await db.schema.hasTable(table), table);
    await db.migrate.rollback({ migrationSource, tableName: 'kbts_migrations' }, true);
    for (const table of tables) assert.equal(await db.schema.hasTable(table), false, table);
    assert.equal((await migrateToLatest(db)).length, (await migrationSource.getMigrations([])).length);
  });

  it('keeps its own tables out of the KB table list', async () => {
    await db.raw('CREATE TABLE articles (id INTEGER PRIMARY KEY, body TEXT)');
    await db.raw('CREATE TABLE "Kunden Übersicht" ("Schlüssel" TEXT PRIMARY KEY, "Notiz ""x""" VARCHAR(50))');
    assert.deepEqual(await listTables(db), ['Kunden Übersicht', 'articles']);
  });

  it('describes columns, types, nullability, length limits and the primary key', async () => {
    await db.raw(`CREATE TABLE notes (
      id ${world.autoId}, title VARCHAR(80) NOT NULL, body TEXT, score INTEGER DEFAULT 0, flag BOOLEAN NOT NULL${database === 'sqlite' ? ', anything' : ''})`);
    const table = await describeTable(db, 'notes');
    assert.deepEqual(table?.primaryKey, ['id']);
    const byName = Object.fromEntries(table!.columns.map((column) => [column.name, column]));
    assert.deepEqual(byName.title, {
      name: 'title', type: database === 'sqlite' ? 'VARCHAR(80)' : 'character varying(80)', nullable: false, isText: true, maxLength: 80, hasDefault: false,
    });
    assert.deepEqual(byName.body, { name: 'body', type: database === 'sqlite' ? 'TEXT' : 'text', nullable: true, isText: true, maxLength: null, hasDefault: false });
    assert.equal(byName.score.isText, false);
    assert.equal(byName.score.hasDefault, true, 'a column with a default is not required in a form');
    assert.equal(byName.flag.isText, false);
    assert.equal(byName.id.nullable, false, 'a primary key never holds NULL');
    if (database === 'sqlite') assert.equal(byName.anything.isText, true, 'an untyped SQLite column stores text as it is');
  });

  it('does not describe a table that introspection does not list', async () => {
    assert.equal(await describeTable(db, 'kbts_accounts'), null);
    assert.equal(await describeTable(db, 'articles"; DROP TABLE kbts_users; --'), null);
  });

  it('captures inserts with a trigger that quotes odd names, and ignores a record key seen before', async () => {
    await db.raw('CREATE TABLE "odd ""table""" ("key col" TEXT PRIMARY KEY, body TEXT)');
    await installCaptureTrigger(db, 7, 'odd "table"', 'key col');
    assert.equal(await captureTriggerExists(db, 7), true);
    await db('odd "table"').insert([{ 'key col': 'a', body: '1' }, { 'key col': 'b', body: '2' }]);
    await db('odd "table"').where({ 'key col': 'a' }).delete();
    await db('odd "table"').insert({ 'key col': 'a', body: 'again' });
    const captured = await db('kbts_publications').orderBy('id');
    assert.deepEqual(captured.map((row) => [Number(row.integration_id), row.record_key, row.state]), [[7, 'a', 'pending'], [7, 'b', 'pending']]);
    assert.match(captured[0].created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    await removeCaptureTrigger(db, 7, 'odd "table"');
    assert.equal(await captureTriggerExists(db, 7), false);
  });

  it('finds tweets among thousands of ids in one lookup, leaving out the ids it does not hold', async () => {
    // More ids than SQLite binds in one statement: the list goes to the database as one value.
    const ids = Array.from({ length: 40_000 }, (_, i) => (1_900_000_000_000_000_000n + BigInt(i)).toString());
    const held = ids.filter((_, i) => i % 1000 === 7);
    const at = '2026-01-01T00:00:00.000Z';
    await db('kbts_publications').insert(held.map((tweetId, i) => ({ integration_id: 1 + (i % 2), record_key: `r${i}`, state: 'sent', tweet_id: tweetId, created_at: at })));
    await new CommunicationStore(db).insert(held.map((tweetId, i) => ({
      integrationId: 1, publicationId: null, recordKey: `r${i}`, direction: 'in', tweetId, conversationId: null, inReplyToTweetId: null,
      authorId: null, authorUsername: null, text: 'a reply', tweetCreatedAt: at, applied: true, notAppliedReason: null, recordedAt: at,
    })));

    const starts = await new PublicationStore(db).conversationStarts(ids);
    assert.deepEqual(starts.map((start) => start.tweetId).sort(), held);
    const second = starts.find((start) => start.tweetId === held[1]);
    assert.deepEqual({ integrationId: second?.integrationId, recordKey: second?.recordKey }, { integrationId: 2, recordKey: 'r1' });
    assert.equal(typeof second?.id, 'number');
    assert.deepEqual([...await new CommunicationStore(db).loggedTweetIds(ids)].sort(), held);
    assert.deepEqual(await new PublicationStore(db).findSentByTweetIds([]), []);
    assert.equal((await new CommunicationStore(db).loggedTweetIds(['1', "2') OR 1=1 --"])).size, 0, 'a value is data, never SQL');
  });

  it('gives a lease to one holder until it expires or is released', async () => {
    const leases = new LeaseStore(db);
    assert.equal(await leases.tryAcquire('account:1', 'worker-a', '2026-11-22T10:00:00.000Z', '2026-11-22T10:01:00.000Z'), true);
    assert.equal(await leases.tryAcquire('account:1', 'worker-b', '2026-11-22T10:00:30.000Z', '2026-11-22T10:01:30.000Z'), false);
    assert.equal(await leases.tryAcquire('account:2', 'worker-b', '2026-11-22T10:00:30.000Z', '2026-11-22T10:01:30.000Z'), true);
    assert.equal(await leases.tryAcquire('account:1', 'worker-b', '2026-11-22T10:01:00.001Z', '2026-11-22T10:02:00.000Z'), true, 'taken over after expiry');
    assert.equal(await leases.renew('account:1', 'worker-a', '2026-11-22T10:05:00.000Z'), false, 'the old holder lost it');
    await leases.release('account:1', 'worker-b');
    assert.equal(await leases.tryAcquire('account:1', 'worker-a', '2026-11-22T10:01:10.000Z', '2026-11-22T10:02:10.000Z'), true);
  });

  if (database === 'postgres') {
    it('skips a lease row another worker has locked instead of waiting for it', async () => {
      const leases = new LeaseStore(db);
      assert.equal(await leases.tryAcquire('account:9', 'worker-a', '2026-11-22T10:00:00.000Z', '2026-11-22T10:00:01.000Z'), true);
      await db.transaction(async (other) => {
        await other('kbts_leases').where({ name: 'account:9' }).forUpdate().first();
        // Expired, so it would be taken over; but while it is locked the answer is "not now", at once
        // (waiting here would never end, since the lock is released only after this line).
        assert.equal(await leases.tryAcquire('account:9', 'worker-b', '2026-11-22T10:05:00.000Z', '2026-11-22T10:06:00.000Z'), false);
      });
      assert.equal(await leases.tryAcquire('account:9', 'worker-b', '2026-11-22T10:05:00.000Z', '2026-11-22T10:06:00.000Z'), true);
    });
  }

  it('lets several workers migrate one fresh database at the same moment', async () => {
    const fresh = await TestEnv.create(database, { migrate: false });
    const workers = [1, 2, 3, 4].map(() => createDb(database === 'postgres'
      ? { client: 'postgres', connection: fresh.databaseUrl }
      : { client: 'sqlite', connection: fresh.databaseUrl }));
    try {
      const applied = await Promise.all(workers.map((worker) => migrateToLatest(worker)));
      const migrations = await migrationSource.getMigrations([]);
      assert.equal(applied.reduce((sum, names) => sum + names.length, 0), migrations.length, 'each migration applied once');
    } finally {
      await Promise.all(workers.map((worker) => worker.destroy()));
      await fresh.close();
    }
  });
});
