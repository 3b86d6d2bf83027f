import assert from 'node:assert/strict';
import { accountDescription, apiBaseUrl } from '../../src/settings/account-settings';

const messageOf = (result: { success: boolean; error?: { issues: Array<{ message: string }> } }) => result.error?.issues.map((issue) => issue.message);

describe('account settings schema', () => {
  it('takes an http(s) API base URL without its trailing slashes, and says why another is refused', () => {
    assert.equal(apiBaseUrl.parse(' http://127.0.0.1:4000/ '), 'http://127.0.0.1:4000');
    assert.deepEqual(messageOf(apiBaseUrl.safeParse('localhost 4000')), ["API base URL 'localhost 4000' is not a URL; give one like https://api.x.com or http://127.0.0.1:4000"]);
    assert.deepEqual(messageOf(apiBaseUrl.safeParse('ftp://example.com')), ['API base URL must start with http:// or https://, not ftp:']);
    assert.deepEqual(messageOf(apiBaseUrl.safeParse(`https://example.com/${'a'.repeat(500)}`)), ['an API base URL has at most 500 characters']);
  });

  it('asks for a description that fits its column', () => {
    assert.equal(accountDescription.parse('  Newsroom  '), 'Newsroom');
    assert.deepEqual(messageOf(accountDescription.safeParse('   ')), ['give the account a description']);
    assert.deepEqual(messageOf(accountDescription.safeParse('x'.repeat(201))), ['an account description has at most 200 characters']);
  });
});
