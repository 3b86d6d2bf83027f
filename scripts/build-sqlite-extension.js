#!/usr/bin/env node
// Run by `npm install` (postinstall): builds native/kbts_blob_range.c, SQLite's incremental BLOB
// I/O as one SQL function (see the file for why), against the SQLite headers better-sqlite3
// ships. Plain JavaScript, so it runs before anything is compiled. Without a C compiler the
// build is skipped with a warning and the product reads BLOB ranges with substr() instead.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const source = path.join(root, 'native', 'kbts_blob_range.c');
const suffix = { darwin: '.dylib', win32: '.dll' }[process.platform] ?? '.so';
const output = path.join(root, 'native', 'build', `kbts_blob_range${suffix}`);

function skip(reason) {
  console.warn(`kb-twitter-sync: the SQLite BLOB range extension was not built (${reason}); BLOBs are read with substr(), which holds the whole value in memory for each range`);
  process.exit(0);
}

if (process.platform === 'win32') skip('no build on Windows yet');
let headers;
try {
  headers = path.join(path.dirname(require.resolve('better-sqlite3/package.json', { paths: [root] })), 'deps', 'sqlite3');
} catch {
  skip('better-sqlite3 is not installed');
}
if (!fs.existsSync(path.join(headers, 'sqlite3ext.h'))) skip(`no sqlite3ext.h in ${headers}`);
fs.mkdirSync(path.dirname(output), { recursive: true });
const compiler = process.env.CC || 'cc';
const shared = process.platform === 'darwin' ? ['-dynamiclib'] : ['-shared', '-fPIC'];
const built = spawnSync(compiler, ['-O2', ...shared, '-I', headers, '-o', output, source], { stdio: 'inherit' });
if (built.error) skip(`${compiler}: ${built.error.message}`);
if (built.status !== 0) skip(`${compiler} exited with ${built.status}`);
