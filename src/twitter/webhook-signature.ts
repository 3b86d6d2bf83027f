import crypto from 'node:crypto';

/**
 * X's webhook security: deliveries carry `x-twitter-webhooks-signature: sha256=` + base64 of
 * HMAC-SHA256(consumer secret, raw body); the CRC challenge is answered with the same HMAC of its
 * token. Both are computed over bytes exactly as received, never over re-serialised JSON.
 */
export function webhookSignature(consumerSecret: string, body: string | Buffer): string {
  return 'sha256=' + crypto.createHmac('sha256', consumerSecret).update(body).digest('base64');
}

export function crcResponseToken(consumerSecret: string, crcToken: string): string {
  return webhookSignature(consumerSecret, crcToken);
}

/** Compares in constant time (for a header of the expected length; the length itself is public). */
export function signatureMatches(consumerSecret: string, rawBody: Buffer, header: string | undefined): boolean {
  if (typeof header !== 'string') return false;
  const expected = Buffer.from(webhookSignature(consumerSecret, rawBody));
  const given = Buffer.from(header);
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}
