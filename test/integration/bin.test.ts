import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

describe('the package bin, as `npm start` runs it', function () {
  this.timeout(30_000);

  it('starts a long-running command from the source when nothing was built', async () => {
    assert.equal(fs.existsSync(path.join(ROOT, 'dist', 'src', 'cli.js')), false, 'this test is about running without a build');
    // `emulator` loads a module the same way `serve` and `poll` do.
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'kb-twitter-sync.js'), '--json', 'emulator', '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let stderr = '';
        child.stderr.on('data', (chunk) => { stderr += chunk; });
        child.stdout.once('data', (chunk) => resolve(JSON.parse(String(chunk)).url));
        child.once('exit', (code) => reject(new Error(`exited with ${code}: ${stderr}`)));
      });
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    } finally {
      child.kill('SIGTERM');
    }
  });
});
