#!/usr/bin/env -S node --max-semi-space-size=8
// The flag caps V8's young generation at 8 MB a half (Node 20's default is 16): a daemon polling
// a thousand integrations a minute peaked 25–35 MB lower for a little more CPU (see
// docs/performance.md, scenario 8). `npm start` passes the same flags (a test checks), and the
// benchmark's daemons read them from this line.
// Runs the compiled CLI when `npm run build` has produced it, the TypeScript source otherwise.
const fs = require('node:fs');
const path = require('node:path');

const compiled = path.join(__dirname, '..', 'dist', 'src', 'cli.js');
if (fs.existsSync(compiled) && !process.env.KBTS_FROM_SOURCE) {
  require(compiled).main(process.argv);
} else {
  require('tsx/cjs');
  require(path.join(__dirname, '..', 'src', 'cli.ts')).main(process.argv);
}
