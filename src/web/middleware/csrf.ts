import crypto from 'node:crypto';
import type express from 'express';
import { UserFacingError } from '../../lib/errors';
import { readCookies, setCookie } from './cookies';
import { deriveKey, safeEqual, sign } from './session';

const ANONYMOUS_COOKIE = 'kbts_csrf';
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Synchroniser tokens without storage: the token is an HMAC of the session (or, before sign-in,
 * of a random cookie), so a page from another site can neither read nor forge it. Every form
 * carries it as `_csrf`; the page script sends it as the x-csrf-token header.
 */
export function csrfProtection(secretKey: string): express.RequestHandler {
  const key = deriveKey(secretKey, 'csrf tokens');
  return (req, res, next) => {
    let binding: string;
    if (req.sessionIdHash) {
      binding = `session:${req.sessionIdHash}`;
    } else {
      let anonymous = readCookies(req).get(ANONYMOUS_COOKIE);
      if (!anonymous || !/^[\w-]{20,100}$/.test(anonymous)) {
        anonymous = crypto.randomBytes(24).toString('base64url');
        setCookie(req, res, ANONYMOUS_COOKIE, anonymous, null);
      }
      binding = `anonymous:${anonymous}`;
    }
    const expected = sign(key, binding);
    res.locals.csrfToken = expected;
    if (!UNSAFE.has(req.method)) return next();
    const body = req.body as Record<string, unknown> | undefined;
    const sent = typeof body?._csrf === 'string' ? body._csrf : req.get('x-csrf-token');
    if (typeof sent === 'string' && safeEqual(sent, expected)) return next();
    next(new UserFacingError('csrf', 'This form has expired or did not come from this site. Go back, reload the page and try again.', { status: 403 }));
  };
}
