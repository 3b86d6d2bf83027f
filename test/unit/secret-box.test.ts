import assert from 'node:assert/strict';
import { maskSecret, SecretBox } from '../../src/lib/secret-box';

describe('secret box', () => {
  const box = new SecretBox('a test key that is long enough');

  it('opens what it sealed and never stores the plaintext', () => {
    const sealed = box.seal('my-access-token-secret');
    assert.ok(!sealed.includes('my-access-token-secret'));
    assert.equal(box.open(sealed), 'my-access-token-secret');
  });

  it('seals the same secret differently each time', () => {
    assert.notEqual(box.seal('same'), box.seal('same'));
  });

  it('refuses to open under another key, saying why', () => {
    const other = new SecretBox('another key, also long enough');
    assert.throws(() => other.open(box.seal('x')), /SECRET_KEY differs/);
  });

  it('detects a tampered value', () => {
    const parts = box.seal('value').split(':');
    parts[3] = Buffer.from('evil').toString('base64url');
    assert.throws(() => box.open(parts.join(':')), /cannot be decrypted/);
  });

  it('shows at most the last four characters', () => {
    assert.equal(maskSecret('abcdefgh1234'), '••••1234');
    assert.equal(maskSecret('abc'), '••••');
  });
});
