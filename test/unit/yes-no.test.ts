import assert from 'node:assert/strict';
import { continueAllows, continueRefusal, parseYesNo } from '../../src/kb/yes-no';

describe('Yes/No parsing', () => {
  for (const value of ['true', '1', 'yes', 'y', 'on', 'YES', ' Yes ', 'On', 1, true]) {
    it(`reads ${JSON.stringify(value)} as Yes`, () => assert.deepEqual(parseYesNo(value), { kind: 'yes' }));
  }
  for (const value of ['false', '0', 'no', 'n', 'off', ' no ', 'NO', 'Off', 0, false]) {
    it(`reads ${JSON.stringify(value)} as No`, () => assert.deepEqual(parseYesNo(value), { kind: 'no' }));
  }
  for (const value of [null, undefined, '', '   ']) {
    it(`reads ${JSON.stringify(value)} as blank`, () => assert.deepEqual(parseYesNo(value), { kind: 'blank' }));
  }
  for (const value of ['maybe', '2', 'yess', 'nope', 2, -1]) {
    it(`reads ${JSON.stringify(value)} as neither, naming the value`, () => {
      const parsed = parseYesNo(value);
      assert.equal(parsed.kind, 'invalid');
      assert.equal(continueRefusal(parsed), `continue field holds '${String(value)}', which is neither Yes nor No`);
    });
  }

  it('lets Yes and blank through and stops No and unknown values', () => {
    assert.equal(continueAllows(parseYesNo('yes')), true);
    assert.equal(continueAllows(parseYesNo(null)), true);
    assert.equal(continueAllows(parseYesNo('no')), false);
    assert.equal(continueAllows(parseYesNo('maybe')), false);
    assert.equal(continueRefusal(parseYesNo('off')), 'continue field is No');
  });
});
