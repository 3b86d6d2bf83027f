import assert from 'node:assert/strict';
import { whereToOpen } from '../../src/serve';

describe('the address `serve` prints to open', () => {
  it('names the address it listens on, to open in a browser', () => {
    assert.equal(whereToOpen('127.0.0.1', 3000, 'kbhost'), 'kb-twitter-sync listening on http://127.0.0.1:3000\nOpen http://127.0.0.1:3000 in your browser.\n');
    assert.equal(whereToOpen('::1', 3000, 'kbhost'), 'kb-twitter-sync listening on http://[::1]:3000\nOpen http://[::1]:3000 in your browser.\n');
  });

  it('names a usable address for HOST=0.0.0.0 or ::, never the wildcard itself', () => {
    const all = whereToOpen('0.0.0.0', 8080, 'kbhost');
    assert.equal(all, 'kb-twitter-sync listening on http://127.0.0.1:8080 and every other address of this machine (HOST=0.0.0.0)\n'
      + 'Open http://127.0.0.1:8080 in your browser on this machine, or http://kbhost:8080 from another one.\n');
    assert.ok(!/http:\/\/0\.0\.0\.0/.test(all));
    assert.match(whereToOpen('::', 8080, 'kbhost'), /^kb-twitter-sync listening on http:\/\/\[::1\]:8080 .*\nOpen http:\/\/\[::1\]:8080 in your browser on this machine, or http:\/\/kbhost:8080 from another one\.\n$/);
  });
});
