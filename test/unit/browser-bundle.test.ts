import assert from 'node:assert/strict';
import fs from 'node:fs';
import vm from 'node:vm';
import { BUNDLE_PATH, bundleBrowser } from '../../scripts/bundle-browser';
import { counterText, tweetOutcome } from '../../src/sync/tweet-outcome';
import { weightedLength } from '../../src/twitter/weighted-length';
import { WEIGHING_SAMPLES } from '../support/weighing-samples';

type Bundle = { weightedLength(text: string): number; counterText(text: string, policy: string, continueValue?: string): string };

function loadBundle(text: string): Bundle {
  // The browser's global object, with the Intl the splitting needs.
  const sandbox: Record<string, unknown> = { Intl };
  vm.runInNewContext(text, sandbox);
  return sandbox.kbtsTweet as Bundle;
}

describe('the browser counter bundle (public/vendor/twitter-text.js)', function () {
  this.timeout(60_000);

  it('is exactly what scripts/bundle-browser.ts makes from the current sources (npm run build:assets)', async () => {
    const committed = fs.readFileSync(BUNDLE_PATH, 'utf8');
    assert.ok(committed === await bundleBrowser(), 'public/vendor/twitter-text.js is stale: run npm run build:assets and commit it');
  });

  it('names twitter-text, its version and its license at the top', () => {
    const head = fs.readFileSync(BUNDLE_PATH, 'utf8').slice(0, 800);
    assert.match(head, /twitter-text 3\.\d+\.\d+ parseTweet/);
    assert.match(head, /Apache License 2\.0/);
  });

  it('weighs and words every sample as the server does, under every policy', () => {
    const bundle = loadBundle(fs.readFileSync(BUNDLE_PATH, 'utf8'));
    const long = 'word '.repeat(70) + '日本語'.repeat(20);
    for (const text of [...WEIGHING_SAMPLES, long]) {
      assert.equal(bundle.weightedLength(text), weightedLength(text), text);
      for (const policy of ['reject', 'truncate', 'thread'] as const) assert.equal(bundle.counterText(text, policy), counterText(text, policy), `${policy}: ${text}`);
      assert.equal(bundle.counterText(text, 'thread', 'No'), counterText(text, 'thread', 'No'));
    }
  });
});

describe('counterText: the record form counter\'s words', () => {
  it('says the count alone when the text fits, and what each policy does when it does not', () => {
    assert.equal(counterText('hello', 'reject'), '5 of 280');
    assert.equal(counterText('x'.repeat(300), 'reject'), '300 of 280: will be rejected');
    assert.equal(counterText('x'.repeat(300), 'truncate'), '300 of 280: will be truncated');
    assert.equal(counterText('word '.repeat(60).trim(), 'thread'), '299 of 280: will be posted in 2 parts');
    assert.equal(counterText('', 'thread'), '0 of 280: empty, nothing to tweet');
    assert.equal(counterText('x'.repeat(300), 'thread', 'No'), '300 of 280: will not be tweeted (continue field is No)');
    assert.equal(counterText('short', 'reject', 'maybe'), "5 of 280: will not be tweeted (continue field holds 'maybe', which is neither Yes nor No)");
    assert.equal(counterText('short', 'reject', ''), '5 of 280', 'a blank continue field counts as Yes');
  });

  it('counts CJK and emoji as 2 and a URL as 23', () => {
    assert.deepEqual(tweetOutcome('日本', 'reject'), { kind: 'fits', weight: 4 });
    assert.deepEqual(tweetOutcome('😀', 'reject'), { kind: 'fits', weight: 2 });
    assert.deepEqual(tweetOutcome(`https://example.com/${'a'.repeat(60)}`, 'reject'), { kind: 'fits', weight: 23 });
  });
});
