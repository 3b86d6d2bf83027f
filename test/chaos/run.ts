// `npm run test:chaos [-- --runs N]`: the crash and fault-injection suites at a chosen size
// (default 50, the CI size: 50 kills). Figures go to docs/reliability.md.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const index = process.argv.indexOf('--runs');
const runs = index >= 0 ? Number(process.argv[index + 1]) : 50;
if (!Number.isInteger(runs) || runs < 1) {
  process.stderr.write(`--runs must be a positive whole number, not '${process.argv[index + 1]}'\n`);
  process.exit(2);
}
const root = path.resolve(__dirname, '..', '..');
const result = spawnSync(process.execPath, [path.join(root, 'node_modules', 'mocha', 'bin', 'mocha.js'), 'test/chaos/**/*.test.ts'], {
  cwd: root, stdio: 'inherit', env: { ...process.env, KBTS_CHAOS_RUNS: String(runs) },
});
process.exit(result.status ?? 1);
