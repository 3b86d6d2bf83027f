import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createDb, migrateToLatest, type Db } from '../../src/db/database';
import { silentLogger } from '../../src/lib/logger';
import { ChangeMarkStore, type ChangeMarks } from '../../src/store/change-marks';
import { ChangeWatcher, type LiveChange } from '../../src/web/live/change-watcher';
import { LiveHub, type PokeKind } from '../../src/web/live/live-hub';
import { pokeOnStoreWrites } from '../../src/web/live/store-writes';

const NOW = '2026-12-01T12:00:00.000Z';

describe('live pages: finding changes', () => {
  let dir: string;
  let db: Db;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kbts-live-'));
    db = createDb({ client: 'sqlite', connection: path.join(dir, 'kb.sqlite3') });
    await migrateToLatest(db);
    await db.schema.createTable('articles', (table) => { table.increments('id'); table.text('title'); });
  });
  afterEach(async () => {
    await db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const communication = (tweetId: string) => ({
    integration_id: 1, record_key: '1', direction: 'in', tweet_id: tweetId, text: 'a reply', applied: true, recorded_at: NOW,
  });

  it('pokes the hub for writes of the tables live pages show, after the commit of a transaction, and not for a rollback', async () => {
    const hub = new LiveHub();
    const pokes: PokeKind[] = [];
    hub.onPoke((kind) => pokes.push(kind));
    const stop = pokeOnStoreWrites(db, hub);
    const poked = (count: number) => new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`expected ${count} pokes, got ${JSON.stringify(pokes)}`)), 5_000);
      const check = () => (pokes.length >= count ? (clearTimeout(deadline), resolve()) : setTimeout(check, 5));
      check();
    });

    await db('kbts_communications').insert(communication('1'));
    assert.deepEqual(pokes, ['store']);
    await db('kbts_sessions').insert({ id_hash: 'h', user_id: 1, created_at: NOW, expires_at: NOW }).catch(() => undefined);
    await db('articles').insert({ title: 'a record' });
    assert.deepEqual(pokes, ['store', 'kb'], 'a session is no news; a KB record is');

    await db.transaction(async (trx) => {
      await trx('kbts_communications').insert(communication('2'));
      assert.equal(pokes.length, 2, 'nothing before the commit');
    });
    await poked(3);
    assert.equal(pokes[2], 'store');

    await db.transaction(async (trx) => {
      await trx('kbts_communications').insert(communication('3'));
      throw new Error('rolled back');
    }).catch(() => undefined);
    // A poke after a commit waits a moment; one for the rollback would have come before this one.
    await db.transaction(async (trx) => { await trx('kbts_integrations').where({ id: 999 }).update({ updated_at: NOW }); });
    await poked(4);
    assert.deepEqual(pokes.slice(3), ['store'], 'the rolled-back insert poked nothing; the committed update after it did');
    stop();
  });

  it('reads the marks only while someone listens, and reports the areas that moved', async () => {
    const real = new ChangeMarkStore(db);
    let reads = 0;
    const counting = { read: async (): Promise<ChangeMarks> => { reads += 1; return real.read(); } } as ChangeMarkStore;
    const hub = new LiveHub();
    const watcher = new ChangeWatcher(counting, hub, { intervalMs: 3_600_000, logger: silentLogger });
    hub.poke();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(reads, 0, 'nobody listens: no read, even when poked');

    const changes: LiveChange[] = [];
    let arrived: () => void = () => undefined;
    const unsubscribe = watcher.subscribe((change) => { changes.push(change); arrived(); });
    const next = () => new Promise<void>((resolve) => { arrived = resolve; });
    const first = next();
    // The first read sets the baseline; the insert moves the communications mark.
    while (reads === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await db('kbts_communications').insert(communication('10'));
    hub.poke();
    await first;
    assert.deepEqual([...changes[0].areas], ['communications']);

    const second = next();
    await db('articles').insert({ title: 'edited by this process' });
    hub.poke('kb');
    await second;
    assert.deepEqual([...changes[1].areas], ['kb'], 'a record written here is news though no mark moved');

    unsubscribe();
    await watcher.stop();
    const after = reads;
    hub.poke();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(reads, after, 'stopped: no more reads');
  });
});
