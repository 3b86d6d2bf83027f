import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createDb, migrateToLatest, type Db } from '../../src/db/database';
import { systemClock } from '../../src/lib/clock';
import { silentLogger } from '../../src/lib/logger';
import { LeaseStore } from '../../src/store/leases';
import { whileHoldingAccount, type LeaseDeps } from '../../src/sync/account-lease';

describe('holding an account while working on it', () => {
  let dir: string;
  let db: Db;
  let leases: LeaseStore;
  const deps = (workerId: string, overrides: Partial<LeaseDeps> = {}): LeaseDeps => ({
    leases, clock: systemClock, logger: silentLogger, workerId,
    settings: { leaseSeconds: 60, retryBaseMs: 1, maxRateLimitWaitMs: 0, replyOverlapSeconds: 0, maxPostAttemptsPerCycle: 1, publishBatchSize: 1, reconcileGraceSeconds: 0 },
    ...overrides,
  });
  const leaseRows = async () => db('kbts_leases').select('name', 'holder');

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kbts-lease-'));
    db = createDb({ client: 'sqlite', connection: path.join(dir, 'kb.sqlite3') });
    await migrateToLatest(db);
    leases = new LeaseStore(db);
  });
  afterEach(async () => {
    await db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs the work and gives its value, with the lease held during it and released after', async () => {
    const result = await whileHoldingAccount(deps('worker-a'), 7, async () => {
      const rows = await leaseRows();
      assert.equal(rows.length, 1);
      assert.equal(rows[0].name, 'account:7');
      assert.match(rows[0].holder, /^worker-a:/);
      return 'done';
    });
    assert.deepEqual(result, { held: true, value: 'done' });
    assert.deepEqual(await leaseRows(), []);
  });

  it('leaves an account another worker holds alone, and lets a different account through', async () => {
    await whileHoldingAccount(deps('worker-a'), 7, async () => {
      let ran = false;
      assert.deepEqual(await whileHoldingAccount(deps('worker-b'), 7, async () => { ran = true; }), { held: false });
      assert.equal(ran, false);
      // Two cycles of one process exclude each other too.
      assert.deepEqual(await whileHoldingAccount(deps('worker-a'), 7, async () => 'again'), { held: false });
      assert.deepEqual(await whileHoldingAccount(deps('worker-b'), 8, async () => 'other'), { held: true, value: 'other' });
    });
  });

  it('releases the lease when the work fails, and the error still reaches the caller', async () => {
    await assert.rejects(whileHoldingAccount(deps('worker-a'), 7, async () => {
      throw new Error('the work broke');
    }), /the work broke/);
    assert.deepEqual(await leaseRows(), []);
  });

  it('renews the lease while long work runs', async () => {
    let renewed!: () => void;
    const renewal = new Promise<void>((resolve) => { renewed = resolve; });
    const watching = Object.create(leases) as LeaseStore;
    watching.renew = async (...args) => {
      const ok = await leases.renew(...args);
      if (ok) renewed();
      return ok;
    };
    // A third of 0.03 s: the work waits for the renewal itself, not for a time.
    const result = await whileHoldingAccount(deps('worker-a', { leases: watching, settings: { ...deps('x').settings, leaseSeconds: 0.03 } }), 7, async () => {
      await renewal;
      return 'renewed';
    });
    assert.deepEqual(result, { held: true, value: 'renewed' });
  });
});
