import crypto from 'node:crypto';
import cookieSignature from 'cookie-signature';
import type express from 'express';
import type { Services } from '../../app';
import { toIso } from '../../lib/clock';
import { isLiveRequest } from '../live/live-request';
import type { Flash, SignedInUser } from '../types';
import { clearCookie, readCookies, setCookie } from './cookies';

export const SESSION_COOKIE = 'kbts_session';
const SESSION_HOURS = 12;

export function deriveKey(secretKey: string, purpose: string): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', secretKey, 'kb-twitter-sync', purpose, 32));
}

/** An HMAC of a value, for the CSRF tokens (which are the signature alone). */
function sign(key: Buffer, value: string): string {
  return crypto.createHmac('sha256', key).update(value).digest('base64url');
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && crypto.timingSafeEqual(left, right);
}

export function hashToken(token: string): string {
  return crypto.createHash('sha256').update(token).digest('hex');
}

/**
 * Database sessions. The cookie holds a random token signed with a key derived from SECRET_KEY
 * (cookie-signature: `token.signature`, checked in constant time); the database holds only the
 * token's hash, so neither a forged cookie nor a copy of the table lets anyone in.
 */
export class Sessions {
  private readonly key: Buffer;

  constructor(private readonly services: Services) {
    this.key = deriveKey(services.config.secretKey, 'session cookies');
  }

  /** Loads the session (if any) onto the request; a notice left for this page is handed over once. */
  middleware(): express.RequestHandler {
    return async (req, res, next) => {
      const cookie = readCookies(req).get(SESSION_COOKIE);
      const token = cookie ? this.verify(cookie) : null;
      if (token) {
        const now = this.services.clock.now();
        const session = await this.services.sessions.findActive(hashToken(token), toIso(now));
        if (session) {
          req.user = { id: session.userId, username: session.username, role: session.role };
          req.sessionIdHash = session.idHash;
          const byThePage = isLiveRequest(req);
          if (session.flash && !byThePage) {
            res.locals.flash = JSON.parse(session.flash) as Flash;
            await this.services.sessions.setFlash(session.idHash, null);
          }
          // Sliding expiry, written at most about once per half lifetime.
          if (!byThePage && Date.parse(session.expiresAt) - now.toMillis() < (SESSION_HOURS / 2) * 3600_000) {
            await this.services.sessions.extend(session.idHash, toIso(now.plus({ hours: SESSION_HOURS })));
            setCookie(req, res, SESSION_COOKIE, cookie as string, SESSION_HOURS * 3600_000);
          }
        }
      }
      next();
    };
  }

  /** A fresh session for a user who just proved who they are (never reusing one from before). */
  async start(req: express.Request, res: express.Response, user: SignedInUser): Promise<void> {
    if (req.sessionIdHash) await this.services.sessions.remove(req.sessionIdHash);
    const token = crypto.randomBytes(32).toString('base64url');
    const now = this.services.clock.now();
    await this.services.sessions.create(hashToken(token), user.id, toIso(now), toIso(now.plus({ hours: SESSION_HOURS })));
    await this.services.sessions.removeExpired(toIso(now));
    setCookie(req, res, SESSION_COOKIE, cookieSignature.sign(token, this.key), SESSION_HOURS * 3600_000);
    req.user = user;
    req.sessionIdHash = hashToken(token);
  }

  async end(req: express.Request, res: express.Response): Promise<void> {
    if (req.sessionIdHash) await this.services.sessions.remove(req.sessionIdHash);
    clearCookie(req, res, SESSION_COOKIE);
    req.user = undefined;
    req.sessionIdHash = undefined;
  }

  /** A notice shown once on the next page. */
  async flash(req: express.Request, kind: Flash['kind'], text: string): Promise<void> {
    if (req.sessionIdHash) await this.services.sessions.setFlash(req.sessionIdHash, JSON.stringify({ kind, text }));
  }

  private verify(cookie: string): string | null {
    const token = cookieSignature.unsign(cookie, this.key);
    // Tokens are base64url, so a valid one never holds a dot of its own.
    return token && /^[\w-]{20,100}$/.test(token) ? token : null;
  }
}

export { safeEqual, sign };
