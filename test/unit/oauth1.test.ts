import assert from 'node:assert/strict';
import {
  buildAuthorizationHeader,
  hmacSha1Signature,
  parseAuthorizationHeader,
  percentEncode,
  signatureBaseString,
  verifyOAuth1Request,
  type OAuthParam,
} from '../../src/emulator/oauth1';

// Vector 1: X's "Creating a signature" example (see /work/shared/x-api/README.md).
const X_EXAMPLE = {
  method: 'POST',
  url: 'https://api.twitter.com/1.1/statuses/update.json',
  params: [
    ['status', 'Hello Ladies + Gentlemen, a signed OAuth request!'],
    ['include_entities', 'true'],
    ['oauth_consumer_key', 'xvz1evFS4wEEPTGEFPHBog'],
    ['oauth_nonce', 'kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg'],
    ['oauth_signature_method', 'HMAC-SHA1'],
    ['oauth_timestamp', '1318622958'],
    ['oauth_token', '370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb'],
    ['oauth_version', '1.0'],
  ] as OAuthParam[],
  consumerSecret: 'kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw',
  tokenSecret: 'LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE',
  expected: 'hCtSmYh+iHYCEqBWrE7C7hYmtUk=',
};

// Vector 2: RFC 5849 section 1.2.
const RFC_EXAMPLE = {
  method: 'GET',
  url: 'http://photos.example.net/photos',
  params: [
    ['file', 'vacation.jpg'],
    ['size', 'original'],
    ['oauth_consumer_key', 'dpf43f3p2l4k3l03'],
    ['oauth_token', 'nnch734d00sl2jdk'],
    ['oauth_signature_method', 'HMAC-SHA1'],
    ['oauth_timestamp', '137131202'],
    ['oauth_nonce', 'chapoH'],
  ] as OAuthParam[],
  consumerSecret: 'kd94hf93k423kf44',
  tokenSecret: 'pfkkdhi9sl3r4s00',
  expected: 'MdpQcU8iPSUjWoN/UDMsK2sui9I=',
};

function headerFor(params: OAuthParam[], signature: string): string {
  const oauth = params.filter(([k]) => k.startsWith('oauth_'));
  return 'OAuth ' + [...oauth, ['oauth_signature', signature]].map(([k, v]) => `${k}="${percentEncode(v)}"`).join(', ');
}

describe('OAuth 1.0a signatures', () => {
  it("reproduces X's documented signature for its statuses/update example", () => {
    const base = signatureBaseString(X_EXAMPLE.method, X_EXAMPLE.url, X_EXAMPLE.params);
    assert.ok(base.startsWith('POST&https%3A%2F%2Fapi.twitter.com%2F1.1%2Fstatuses%2Fupdate.json&include_entities%3Dtrue%26oauth_consumer_key'));
    assert.equal(hmacSha1Signature(base, X_EXAMPLE.consumerSecret, X_EXAMPLE.tokenSecret), X_EXAMPLE.expected);
  });

  it('reproduces the RFC 5849 section 1.2 signature (no oauth_version)', () => {
    const base = signatureBaseString(RFC_EXAMPLE.method, RFC_EXAMPLE.url, RFC_EXAMPLE.params);
    assert.equal(hmacSha1Signature(base, RFC_EXAMPLE.consumerSecret, RFC_EXAMPLE.tokenSecret), RFC_EXAMPLE.expected);
  });

  it('percent-encodes the reserved characters that encodeURIComponent leaves alone', () => {
    assert.equal(percentEncode("a!b*c'd(e)f ~-._"), 'a%21b%2Ac%27d%28e%29f%20~-._');
  });

  it('normalises scheme, host case and default port in the base URL', () => {
    const a = signatureBaseString('get', 'HTTP://Photos.Example.NET:80/photos', RFC_EXAMPLE.params);
    const b = signatureBaseString('GET', 'http://photos.example.net/photos', RFC_EXAMPLE.params);
    assert.equal(a, b);
  });

  it('parses an Authorization header and rejects one that is not OAuth', () => {
    const parsed = parseAuthorizationHeader('OAuth realm="Photos", oauth_consumer_key="dpf43f3p2l4k3l03", oauth_signature="MdpQcU8iPSUjWoN%2FUDMsK2sui9I%3D"');
    assert.equal(parsed?.get('oauth_signature'), 'MdpQcU8iPSUjWoN/UDMsK2sui9I=');
    assert.equal(parsed?.get('realm'), 'Photos');
    assert.equal(parseAuthorizationHeader('Bearer abc'), null);
    assert.equal(parseAuthorizationHeader('OAuth garbage'), null);
    assert.equal(parseAuthorizationHeader(undefined), null);
  });
});

describe('OAuth 1.0a request verification', () => {
  const lookups = {
    consumerSecret: (key: string) => (key === 'dpf43f3p2l4k3l03' ? RFC_EXAMPLE.consumerSecret : undefined),
    tokenSecret: (_key: string, token: string) => (token === 'nnch734d00sl2jdk' ? RFC_EXAMPLE.tokenSecret : undefined),
  };
  const url = 'http://photos.example.net/photos?file=vacation.jpg&size=original';

  it('accepts the RFC example sent as a real header with the query in the URL', () => {
    const result = verifyOAuth1Request({ method: 'GET', url, authorization: headerFor(RFC_EXAMPLE.params, RFC_EXAMPLE.expected), ...lookups });
    assert.deepEqual(result, { ok: true, consumerKey: 'dpf43f3p2l4k3l03', token: 'nnch734d00sl2jdk' });
  });

  it('refuses a request whose query was changed after signing', () => {
    const result = verifyOAuth1Request({
      method: 'GET',
      url: url.replace('original', 'small'),
      authorization: headerFor(RFC_EXAMPLE.params, RFC_EXAMPLE.expected),
      ...lookups,
    });
    assert.deepEqual(result, { ok: false, reason: 'signature mismatch' });
  });

  it('refuses unknown consumers and unknown tokens', () => {
    const foreignConsumer = verifyOAuth1Request({
      method: 'GET',
      url,
      authorization: headerFor(RFC_EXAMPLE.params, RFC_EXAMPLE.expected),
      consumerSecret: () => undefined,
      tokenSecret: lookups.tokenSecret,
    });
    assert.equal(foreignConsumer.ok, false);
    const foreignToken = verifyOAuth1Request({
      method: 'GET',
      url,
      authorization: headerFor(RFC_EXAMPLE.params, RFC_EXAMPLE.expected),
      consumerSecret: lookups.consumerSecret,
      tokenSecret: () => undefined,
    });
    assert.equal(foreignToken.ok, false);
  });

  it('round-trips headers it builds and refuses them when signed with the wrong secret', () => {
    const signed = { method: 'POST', url: 'http://127.0.0.1:4000/2/tweets?x=a%20b', consumerKey: 'dpf43f3p2l4k3l03', token: 'nnch734d00sl2jdk' };
    const good = buildAuthorizationHeader({ ...signed, consumerSecret: RFC_EXAMPLE.consumerSecret, tokenSecret: RFC_EXAMPLE.tokenSecret });
    assert.equal(verifyOAuth1Request({ method: 'POST', url: signed.url, authorization: good, ...lookups }).ok, true);
    const bad = buildAuthorizationHeader({ ...signed, consumerSecret: 'wrong', tokenSecret: RFC_EXAMPLE.tokenSecret });
    assert.deepEqual(verifyOAuth1Request({ method: 'POST', url: signed.url, authorization: bad, ...lookups }), { ok: false, reason: 'signature mismatch' });
  });
});
