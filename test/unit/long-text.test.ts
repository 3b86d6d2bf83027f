import assert from 'node:assert/strict';
import { planTweet } from '../../src/sync/long-text';
import { weightedLength } from '../../src/twitter/weighted-length';

const cjk = '中'.repeat(141); // 282 weighted
const emoji = '👩‍👩‍👧‍👦'.repeat(141); // ZWJ family counts as one emoji of weight 2
const urls = Array.from({ length: 12 }, (_, i) => `https://example.com/page/${i}`).join(' '); // 12 × 23 + 11 spaces

describe('long-text policy', () => {
  it('passes a text of exactly 280 weighted characters unchanged', () => {
    assert.deepEqual(planTweet('a'.repeat(280), 'reject'), { ok: true, parts: ['a'.repeat(280)] });
    assert.deepEqual(planTweet('中'.repeat(140), 'reject'), { ok: true, parts: ['中'.repeat(140)] });
  });

  it('refuses empty and whitespace-only text', () => {
    assert.equal(planTweet('', 'reject').ok, false);
    assert.equal(planTweet('   \n', 'thread').ok, false);
    assert.equal(planTweet(null, 'truncate').ok, false);
  });

  for (const [name, text] of [['CJK', cjk], ['emoji', emoji], ['URLs', urls]] as const) {
    it(`rejects over-long ${name} text by default with the weighted count`, () => {
      const weight = weightedLength(text);
      assert.ok(weight > 280);
      const plan = planTweet(text, 'reject');
      assert.equal(plan.ok, false);
      assert.match((plan as { reason: string }).reason, new RegExp(`is ${weight} weighted characters; X allows 280`));
    });

    it(`truncates over-long ${name} text with an ellipsis within 280 and on a grapheme boundary`, () => {
      const plan = planTweet(text, 'truncate');
      assert.ok(plan.ok);
      const [part] = plan.parts;
      assert.ok(part.endsWith('…'));
      assert.ok(weightedLength(part) <= 280);
      assert.ok(text.startsWith(part.slice(0, -1).trimEnd()));
      assert.ok(!/[\uD800-\uDBFF]$/.test(part.slice(0, -1)), 'no half surrogate pair before the ellipsis');
    });

    it(`threads over-long ${name} text into numbered parts that each fit and keep all the text`, () => {
      const plan = planTweet(text, 'thread');
      assert.ok(plan.ok);
      assert.ok(plan.parts.length >= 2);
      plan.parts.forEach((part, index) => {
        assert.ok(weightedLength(part) <= 280, `part ${index + 1} weighs ${weightedLength(part)}`);
        assert.ok(part.endsWith(` (${index + 1}/${plan.parts.length})`));
      });
      const joined = plan.parts.map((part) => part.replace(/ \(\d+\/\d+\)$/, '')).join('');
      assert.equal(joined.replace(/\s+/g, ''), text.replace(/\s+/g, ''));
    });
  }
});

describe('text that cannot be posted', () => {
  it('refuses a lone surrogate, naming the character', () => {
    const plan = planTweet('ab\uD83Dcd', 'truncate');
    assert.deepEqual(plan, { ok: false, reason: "the tweet text is not valid Unicode: character 3 is half of a surrogate pair; fix the record's text" });
    assert.equal(planTweet('a😀\uDE00', 'reject').ok, false, 'a low surrogate alone too');
    assert.equal(planTweet('a😀b', 'reject').ok, true, 'a whole pair is fine');
  });

  it('refuses a NUL character, naming where it is', () => {
    assert.deepEqual(planTweet('😀ab\u0000c', 'reject'), {
      ok: false, reason: "the tweet text contains a NUL character (U+0000) at character 4; remove it from the record's text",
    });
  });
});

describe('text the database could not decode', () => {
  it('refuses U+FFFD replacement characters instead of posting garbage', () => {
    assert.match((planTweet('ok \uFFFD\uFFFD', 'reject') as { reason: string }).reason, /character 4 could not be decoded/);
  });
});
