import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

/** The packages a fresh process has loaded after requiring these modules of the CLI. */
function packagesLoadedBy(modules: string[]): Set<string> {
  const script = `
    require('tsx/cjs');
    for (const name of ${JSON.stringify(modules)}) require(require('node:path').join(${JSON.stringify(ROOT)}, name));
    const names = Object.keys(require.cache).map((file) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(file)?.[1]).filter(Boolean);
    process.stdout.write(JSON.stringify([...new Set(names)]));`;
  return new Set(JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8' })) as string[]);
}

describe('what a worker process loads', function () {
  this.timeout(60_000);

  it('a poll worker on SQLite leaves the web app, the emulator and the PostgreSQL driver out of memory', () => {
    const loaded = packagesLoadedBy(['src/cli.ts', 'src/poll-daemon.ts']);
    assert.ok(loaded.has('knex') && loaded.has('twitter-api-v2'), 'what polling needs is loaded');
    for (const unneeded of ['express', 'helmet', 'ejs', 'pg']) assert.equal(loaded.has(unneeded), false, `${unneeded} is not loaded`);
  });

  it('serve loads the web app', () => {
    const loaded = packagesLoadedBy(['src/cli.ts', 'src/serve.ts']);
    assert.ok(loaded.has('express') && loaded.has('helmet'));
  });
});
