import fs from 'node:fs';
import path from 'node:path';

/**
 * The folder holding the project's package.json, from a module's own folder: the same from the
 * sources (src/…) and from a compiled copy (dist/src/…, the benchmark's build), wherever the
 * checkout lives.
 */
export function projectRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(from, '../..');
  }
}
