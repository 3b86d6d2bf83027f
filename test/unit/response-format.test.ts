import assert from 'node:assert/strict';
import { applyEntries, formatEntry, lengthWithEntry, replyBody } from '../../src/sync/response-format';

describe('reply entry format', () => {
  it('stamps the reply with its own created_at in UTC by default', () => {
    assert.equal(
      formatEntry({ createdAt: '2026-11-22T14:03:59.000Z', username: 'alice', text: '@kb_news the reply text' }, 'UTC'),
      '[2026-11-22 14:03 UTC] @alice: the reply text',
    );
  });

  it('shows the stamp in the integration time zone', () => {
    assert.equal(
      formatEntry({ createdAt: '2026-07-01T22:30:00.000Z', username: 'bob', text: 'hi' }, 'Europe/Berlin'),
      '[2026-07-02 00:30 GMT+2] @bob: hi',
    );
  });

  it('stamps many replies of one minute right in every zone, across a daylight-saving change too', () => {
    const entry = (createdAt: string, zone: string) => formatEntry({ createdAt, username: 'a', text: 'x' }, zone);
    for (let round = 0; round < 2; round++) {
      assert.equal(entry('2026-03-29T00:59:10.000Z', 'Europe/Berlin'), '[2026-03-29 01:59 GMT+1] @a: x');
      assert.equal(entry('2026-03-29T00:59:50.000Z', 'UTC'), '[2026-03-29 00:59 UTC] @a: x');
      assert.equal(entry('2026-03-29T01:00:05.000Z', 'Europe/Berlin'), '[2026-03-29 03:00 GMT+2] @a: x');
      assert.equal(entry('2026-03-29T01:00:05Z', 'America/New_York'), '[2026-03-28 21:00 EDT] @a: x');
    }
  });

  it('drops the leading handles X adds to a reply but keeps handles inside the text', () => {
    assert.equal(replyBody('@kb_news @carol thanks @dave'), 'thanks @dave');
    assert.equal(replyBody('@kb_news'), '@kb_news');
  });

  it('turns X HTML escapes back into the characters typed', () => {
    assert.equal(formatEntry({ createdAt: '2026-11-22T14:03:00Z', username: 'a', text: 'x &lt;b&gt; &amp; y' }, 'UTC'), '[2026-11-22 14:03 UTC] @a: x <b> & y');
  });
});

describe('response modes', () => {
  const entries = ['[1] first', '[2] second'];

  it('append adds entries after what the field holds, oldest first', () => {
    assert.equal(applyEntries('intro', entries, 'append'), 'intro\n[1] first\n[2] second');
    assert.equal(applyEntries(null, entries, 'append'), '[1] first\n[2] second');
  });

  it('prepend puts the newest entry on top', () => {
    assert.equal(applyEntries('intro', entries, 'prepend'), '[2] second\n[1] first\nintro');
    assert.equal(applyEntries('', entries, 'prepend'), '[2] second\n[1] first');
  });

  it('overwrite keeps only the newest entry', () => {
    assert.equal(applyEntries('intro', entries, 'overwrite'), '[2] second');
  });

  it('works out the length an entry gives the field without building it, in every mode', () => {
    for (const mode of ['append', 'prepend', 'overwrite'] as const) {
      for (const current of [null, '', 'intro', 'two\nlines']) {
        const expected = applyEntries(current, ['[3] third'], mode).length;
        assert.equal(lengthWithEntry(current?.length ?? 0, '[3] third'.length, mode), expected, `${mode} onto ${JSON.stringify(current)}`);
      }
    }
  });
});
