import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config';

describe('PUBLIC_URL (the address X delivers webhooks to)', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kbts-config-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const load = (value: string | undefined) => loadConfig({ KBTS_DATA_DIR: dir, SECRET_KEY: 'k'.repeat(32), PUBLIC_URL: value });

  it('is optional: unset or empty means no real-time replies outside the sandbox', () => {
    assert.equal(load(undefined).publicUrl, null);
    assert.equal(load('').publicUrl, null);
  });

  it('takes an https address (a path too, behind a proxy), without its trailing slash', () => {
    assert.equal(load('https://kb.example.org/').publicUrl, 'https://kb.example.org');
    assert.equal(load('https://example.org/kb-sync').publicUrl, 'https://example.org/kb-sync');
  });

  it('takes http and a port for loopback addresses only (tests, a local sandbox)', () => {
    assert.equal(load('http://127.0.0.1:3000').publicUrl, 'http://127.0.0.1:3000');
    assert.equal(load('http://localhost:8080').publicUrl, 'http://localhost:8080');
    assert.throws(() => load('http://kb.example.org'), /PUBLIC_URL must start with https:\/\/ .*not "http:\/\/kb.example.org"/);
  });

  it('refuses what X refuses in a webhook address, saying why', () => {
    assert.throws(() => load('kb.example.org'), /PUBLIC_URL must be an absolute address/);
    assert.throws(() => load('https://kb.example.org:8443'), /must not name a port/);
    assert.throws(() => load('https://kb.example.org/?a=1'), /without a query/);
    assert.throws(() => load(`https://kb.example.org/${'a'.repeat(200)}`), /at most 160 characters/);
    assert.throws(() => load('ftp://kb.example.org'), /must start with https:\/\//);
  });
});
