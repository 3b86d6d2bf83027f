import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildServices } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/lib/logger';
import { describeEachDatabase } from '../support/test-env';
import { csrfFrom, PASSWORD, WebWorld } from '../support/web-world';

describeEachDatabase('security: the first-run form makes one admin however many are sent at once', (database) => {
  let world: WebWorld;
  before(async () => { world = await WebWorld.create({ database }); });
  after(async () => world.close());

  it('creates exactly one admin from ten parallel first-run forms; the others are sent to sign in', async () => {
    const agents = Array.from({ length: 10 }, () => world.agent());
    const tokens = await Promise.all(agents.map(async (agent) => csrfFrom((await agent.get('/setup')).text)));
    const answers = await Promise.all(agents.map((agent, index) => agent.post('/setup').type('form')
      .send({ _csrf: tokens[index], username: `first${index}`, password: PASSWORD, passwordRepeat: PASSWORD })));
    assert.deepEqual(answers.map((answer) => answer.status), Array(10).fill(303));
    const users = await world.services.users.list();
    assert.equal(users.length, 1, users.map((user) => user.username).join(', '));
    assert.equal(users[0].role, 'admin');
    const winners = answers.filter((answer) => answer.headers.location === '/');
    assert.equal(winners.length, 1);
    assert.equal(answers.filter((answer) => answer.headers.location === '/login').length, 9);
    // Only the winner is signed in.
    const signedIn = await Promise.all(agents.map(async (agent) => (await agent.get('/me')).status));
    assert.equal(signedIn.filter((status) => status === 200).length, 1);
  });
});

describe('security: the data folder and the SQLite files are private from the first start', () => {
  let dir: string;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kbts-modes-')); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const mode = (file: string) => (fs.statSync(file).mode & 0o777).toString(8);

  it('creates data/ 0700, secret.key, kb.sqlite3, -wal and -shm 0600 even under a permissive umask', async () => {
    const dataDir = path.join(dir, 'data');
    const previous = process.umask(0o002);
    let services: Awaited<ReturnType<typeof buildServices>> | null = null;
    try {
      services = await buildServices(loadConfig({ KBTS_DATA_DIR: dataDir, LOG_LEVEL: 'silent' }), { logger: createLogger('silent', () => undefined) });
      await services.users.create('someone', 'scrypt$x', 'admin', new Date().toISOString());
      // While the database is open, its write-ahead log and shared memory files exist.
      assert.deepEqual(
        [dataDir, 'secret.key', 'kb.sqlite3', 'kb.sqlite3-wal', 'kb.sqlite3-shm'].map((name) => [name, mode(path.resolve(dataDir, name))]),
        [[dataDir, '700'], ['secret.key', '600'], ['kb.sqlite3', '600'], ['kb.sqlite3-wal', '600'], ['kb.sqlite3-shm', '600']],
      );
    } finally {
      process.umask(previous);
      await services?.close();
    }
  });

  it('narrows a database file left readable by others to its owner at the next start, keeping it writable or not as it was', async () => {
    const file = path.join(dir, 'old.sqlite3');
    fs.writeFileSync(file, '');
    fs.chmodSync(file, 0o644);
    const services = await buildServices(loadConfig({ DATABASE_URL: file, SECRET_KEY: 'x'.repeat(32), LOG_LEVEL: 'silent' }), { logger: createLogger('silent', () => undefined) });
    await services.close();
    assert.equal(mode(file), '600');
  });
});
