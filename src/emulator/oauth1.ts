import crypto from 'node:crypto';

/** One request parameter as it takes part in the signature; repeated keys are allowed. */
export type OAuthParam = readonly [key: string, value: string];

/** RFC 3986 unreserved characters stay, everything else is %XX (RFC 5849 section 3.6). */
export function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** Scheme and host lower-cased, default port dropped, no query or fragment (RFC 5849 section 3.4.1.2). */
export function normalizeBaseUrl(url: string): string {
  const parsed = new URL(url);
  // WHATWG URL already lower-cases scheme and host and removes the default port.
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The signature base string: METHOD&url&params, parameters encoded then sorted by key and value. */
export function signatureBaseString(method: string, url: string, params: Iterable<OAuthParam>): string {
  const encoded = [...params].map(([key, value]) => [percentEncode(key), percentEncode(value)] as const);
  encoded.sort((a, b) => compareStrings(a[0], b[0]) || compareStrings(a[1], b[1]));
  const parameterString = encoded.map(([key, value]) => `${key}=${value}`).join('&');
  return [method.toUpperCase(), percentEncode(normalizeBaseUrl(url)), percentEncode(parameterString)].join('&');
}

export function hmacSha1Signature(baseString: string, consumerSecret: string, tokenSecret = ''): string {
  const key = `${percentEncode(consumerSecret)}&${percentEncode(tokenSecret)}`;
  return crypto.createHmac('sha1', key).update(baseString).digest('base64');
}

function percentDecode(value: string): string | null {
  try {
    return decodeURIComponent(value);
  } catch {
    return null;
  }
}

/**
 * Parses `OAuth k="v", k2="v2"` into decoded values. Returns null when the header is absent or is
 * not an OAuth header at all, so the caller can answer 401 without guessing.
 */
export function parseAuthorizationHeader(header: string | undefined): Map<string, string> | null {
  if (!header) return null;
  const match = /^\s*OAuth\s+(.*)$/is.exec(header);
  if (!match) return null;
  const result = new Map<string, string>();
  const pair = /\s*([^=,\s]+)\s*=\s*"([^"]*)"\s*(?:,|$)/gy;
  const rest = match[1];
  let consumed = 0;
  for (let m = pair.exec(rest); m; m = pair.exec(rest)) {
    const key = percentDecode(m[1]);
    const value = percentDecode(m[2]);
    if (key === null || value === null) return null;
    result.set(key, value);
    consumed = pair.lastIndex;
  }
  if (rest.slice(consumed).trim() !== '') return null;
  return result;
}

export interface OAuthVerifyRequest {
  method: string;
  /** The full URL the client signed, query included (the query takes part in the signature). */
  url: string;
  authorization: string | undefined;
  /** Parameters of a form-encoded body; a JSON body is not part of the signature. */
  bodyParams?: Iterable<OAuthParam>;
  consumerSecret(consumerKey: string): string | undefined;
  tokenSecret(consumerKey: string, token: string): string | undefined;
}

export type OAuthVerifyResult =
  | { ok: true; consumerKey: string; token: string }
  | { ok: false; reason: string };

/**
 * Checks a user-context OAuth 1.0a request (HMAC-SHA1). Timestamp and nonce must be present but
 * are not checked against a clock or a replay cache: the emulator runs on an injected clock.
 */
export function verifyOAuth1Request(request: OAuthVerifyRequest): OAuthVerifyResult {
  const header = parseAuthorizationHeader(request.authorization);
  if (!header) return { ok: false, reason: 'missing or malformed OAuth Authorization header' };
  const consumerKey = header.get('oauth_consumer_key');
  const token = header.get('oauth_token');
  const signature = header.get('oauth_signature');
  if (!consumerKey || !signature) return { ok: false, reason: 'oauth_consumer_key or oauth_signature missing' };
  if (header.get('oauth_signature_method') !== 'HMAC-SHA1') return { ok: false, reason: 'unsupported signature method' };
  if (header.has('oauth_version') && header.get('oauth_version') !== '1.0') return { ok: false, reason: 'unsupported oauth_version' };
  // The timestamp is not held against the emulator's clock: that clock can be set months away
  // from the caller's, which signs with its machine's time as X's clients do.
  if (!header.get('oauth_timestamp') || !header.get('oauth_nonce')) return { ok: false, reason: 'oauth_timestamp or oauth_nonce missing' };
  if (!token) return { ok: false, reason: 'user context required (no oauth_token)' };

  const consumerSecret = request.consumerSecret(consumerKey);
  if (consumerSecret === undefined) return { ok: false, reason: 'unknown consumer key' };
  const tokenSecret = request.tokenSecret(consumerKey, token);
  if (tokenSecret === undefined) return { ok: false, reason: 'unknown, revoked or foreign access token' };

  const params: OAuthParam[] = [];
  for (const [key, value] of header) {
    if (key !== 'oauth_signature' && key !== 'realm') params.push([key, value]);
  }
  for (const [key, value] of new URL(request.url).searchParams) params.push([key, value]);
  if (request.bodyParams) params.push(...request.bodyParams);

  const expected = hmacSha1Signature(signatureBaseString(request.method, request.url, params), consumerSecret, tokenSecret);
  const given = Buffer.from(signature);
  const wanted = Buffer.from(expected);
  if (given.length !== wanted.length || !crypto.timingSafeEqual(given, wanted)) {
    return { ok: false, reason: 'signature mismatch' };
  }
  return { ok: true, consumerKey, token };
}

/** Builds a signed Authorization header; used by tests and by anything that needs to call the emulator raw. */
export function buildAuthorizationHeader(input: {
  method: string;
  url: string;
  consumerKey: string;
  consumerSecret: string;
  token: string;
  tokenSecret: string;
  nonce?: string;
  timestamp?: number;
  bodyParams?: Iterable<OAuthParam>;
}): string {
  const oauth: Record<string, string> = {
    oauth_consumer_key: input.consumerKey,
    oauth_nonce: input.nonce ?? crypto.randomBytes(16).toString('hex'),
    oauth_signature_method: 'HMAC-SHA1',
    oauth_timestamp: String(input.timestamp ?? Math.floor(Date.now() / 1000)),
    oauth_token: input.token,
    oauth_version: '1.0',
  };
  const params: OAuthParam[] = [...Object.entries(oauth), ...new URL(input.url).searchParams];
  if (input.bodyParams) params.push(...input.bodyParams);
  oauth.oauth_signature = hmacSha1Signature(
    signatureBaseString(input.method, input.url, params),
    input.consumerSecret,
    input.tokenSecret,
  );
  return 'OAuth ' + Object.entries(oauth).map(([k, v]) => `${percentEncode(k)}="${percentEncode(v)}"`).join(', ');
}
