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
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'kb-twitter-sync.js'), '--json', 'emulator', '--port', '0', '--clock', '2031-05-06T07:08:09Z'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let stderr = '';
        child.stderr.on('data', (chunk) => { stderr += chunk; });
        child.stdout.once('data', (chunk) => resolve(JSON.parse(String(chunk)).url));
        child.once('exit', (code) => reject(new Error(`exited with ${code}: ${stderr}`)));
      });
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const { now } = (await (await fetch(`${url}/_emulator/clock`)).json()) as { now: string };
      assert.ok(now.startsWith('2031-05-06T07:'), `the emulator's clock starts at --clock: ${now}`);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('runs as a program by its own first line, with the Node flags `npm start` gives it too', async () => {
    const launcher = path.join(ROOT, 'bin', 'kb-twitter-sync.js');
    const flags = /^#!\/usr\/bin\/env -S node (.+)$/.exec(fs.readFileSync(launcher, 'utf8').split('\n')[0])?.[1];
    assert.ok(flags, 'the first line names node and its flags');
    const start = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).scripts.start as string;
    assert.equal(start, `node ${flags} bin/kb-twitter-sync.js serve`);
    // Executed itself (as npm's bin link runs it): node must accept the flags, or it exits 9 before the CLI.
    const child = spawn(launcher, ['--help'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    const code = await new Promise((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^Usage: kb-twitter-sync /);
  });

  it('refuses an emulator --clock it cannot read, saying what it wants', async () => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'kb-twitter-sync.js'), 'emulator', '--port', '0', '--clock', 'soon'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    const code = await new Promise((resolve) => child.once('exit', resolve));
    assert.equal(code, 1);
    assert.match(stderr, /error: --clock must be an ISO-8601 time with a zone, e\.g\. 2026-12-01T09:00:00Z, not 'soon'/);
  });
});
