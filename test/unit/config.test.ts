import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, readXCredentialsFromEnv } from '../../src/config';

describe('configuration', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kbts-config-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('defaults to SQLite in the data folder on 127.0.0.1:3000', () => {
    const config = loadConfig({ KBTS_DATA_DIR: dir, SECRET_KEY: 'k'.repeat(32) });
    assert.deepEqual(config.database, { client: 'sqlite', connection: path.join(dir, 'kb.sqlite3') });
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 3000);
    assert.ok(Object.isFrozen(config));
  });

  it('generates SECRET_KEY once into the data folder with mode 0600', () => {
    const first = loadConfig({ KBTS_DATA_DIR: dir });
    const second = loadConfig({ KBTS_DATA_DIR: dir });
    assert.equal(first.secretKey, second.secretKey);
    assert.equal(fs.statSync(path.join(dir, 'secret.key')).mode & 0o777, 0o600);
  });

  it('reads sqlite: and postgres:// URLs', () => {
    assert.deepEqual(loadConfig({ KBTS_DATA_DIR: dir, SECRET_KEY: 'k'.repeat(32), DATABASE_URL: 'sqlite:./x.db' }).database, { client: 'sqlite', connection: './x.db' });
    assert.equal(loadConfig({ KBTS_DATA_DIR: dir, SECRET_KEY: 'k'.repeat(32), DATABASE_URL: 'postgres://u@h/db' }).database.client, 'postgres');
  });

  it('explains bad values', () => {
    assert.throws(() => loadConfig({ KBTS_DATA_DIR: dir, SECRET_KEY: 'k'.repeat(32), PORT: 'eighty' }), /PORT must be a whole number from 0 to 65535, not "eighty"/);
    assert.throws(() => loadConfig({ KBTS_DATA_DIR: dir, SECRET_KEY: 'k'.repeat(32), LOG_LEVEL: 'loud' }), /LOG_LEVEL must be one of/);
    assert.throws(() => loadConfig({ KBTS_DATA_DIR: dir, SECRET_KEY: 'short' }), /at least 16 characters/);
    assert.throws(() => loadConfig({ KBTS_DATA_DIR: dir, SECRET_KEY: 'k'.repeat(32), DATABASE_URL: 'mysql://x' }), /must be a SQLite file path/);
  });

  it('names every bad variable at once, and takes an empty one as unset', () => {
    assert.throws(() => loadConfig({ KBTS_DATA_DIR: dir, SECRET_KEY: 'k'.repeat(32), KBTS_LEASE_SECONDS: '1', KBTS_RETRY_BASE_MS: '2.5' }),
      (error: Error) => /KBTS_RETRY_BASE_MS must be a whole number from 1 to 600000, not "2.5"; KBTS_LEASE_SECONDS must be a whole number from 2 to 3600, not "1"/.test(error.message));
    const config = loadConfig({ KBTS_DATA_DIR: dir, SECRET_KEY: 'k'.repeat(32), PORT: '', LOG_LEVEL: '', HOST: '', KBTS_LEASE_SECONDS: '' });
    assert.deepEqual([config.port, config.logLevel, config.host, config.leaseSeconds], [3000, 'info', '127.0.0.1', 60]);
    assert.equal(loadConfig({ KBTS_DATA_DIR: dir, SECRET_KEY: 'k'.repeat(32), LOG_LEVEL: 'DEBUG', PORT: '0' }).logLevel, 'debug');
  });

  it('caps each read of X at 100 pages and waits 120 s before a lost post counts as not posted, unless told otherwise', () => {
    const defaults = loadConfig({ KBTS_DATA_DIR: dir, SECRET_KEY: 'k'.repeat(32) });
    assert.deepEqual([defaults.maxPagesPerRead, defaults.reconcileGraceSeconds], [100, 120]);
    const set = loadConfig({ KBTS_DATA_DIR: dir, SECRET_KEY: 'k'.repeat(32), KBTS_MAX_PAGES_PER_READ: '3', KBTS_RECONCILE_GRACE_SECONDS: '0' });
    assert.deepEqual([set.maxPagesPerRead, set.reconcileGraceSeconds], [3, 0]);
    assert.throws(() => loadConfig({ KBTS_DATA_DIR: dir, SECRET_KEY: 'k'.repeat(32), KBTS_MAX_PAGES_PER_READ: '0' }), /KBTS_MAX_PAGES_PER_READ must be a whole number from 1 to 1000, not "0"/);
  });

  it('works 50 accounts at once per worker unless told otherwise, and refuses 0 in words', () => {
    assert.equal(loadConfig({ KBTS_DATA_DIR: dir, SECRET_KEY: 'k'.repeat(32) }).accountsAtOnce, 50);
    assert.equal(loadConfig({ KBTS_DATA_DIR: dir, SECRET_KEY: 'k'.repeat(32), KBTS_ACCOUNTS_AT_ONCE: '4' }).accountsAtOnce, 4);
    assert.throws(() => loadConfig({ KBTS_DATA_DIR: dir, SECRET_KEY: 'k'.repeat(32), KBTS_ACCOUNTS_AT_ONCE: '0' }), /KBTS_ACCOUNTS_AT_ONCE must be a whole number from 1 to 10000, not "0"/);
  });

  it('names every missing X credential', () => {
    assert.throws(() => readXCredentialsFromEnv({ TWITTER_API_KEY: 'k' }), /TWITTER_API_KEY_SECRET, TWITTER_ACCESS_TOKEN, TWITTER_ACCESS_TOKEN_SECRET/);
  });
});
