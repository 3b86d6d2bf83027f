#!/usr/bin/env node
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
