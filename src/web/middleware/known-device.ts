import crypto from 'node:crypto';
import cookieSignature from 'cookie-signature';
import type express from 'express';
import { readCookies, setCookie } from './cookies';
import { deriveKey } from './session';

const DEVICE_COOKIE = 'kbts_device';
const DEVICE_DAYS = 90;

function userDigest(username: string): string {
  return crypto.createHash('sha256').update(username.toLowerCase()).digest('base64url').slice(0, 22);
}

/**
 * "Known device" cookies: after a sign-in with the right password the browser keeps a signed,
 * random id bound to that username. The sign-in limit counts such a browser's attempts for that
 * user on their own, so a guesser who never had the password cannot slow its owner down.
 */
export class KnownDevices {
  private readonly key: Buffer;

  constructor(secretKey: string) {
    this.key = deriveKey(secretKey, 'known device cookies');
  }

  /** The browser's device id, when its cookie was issued at a sign-in of this username. */
  idFor(req: express.Request, username: string): string | null {
    const cookie = readCookies(req).get(DEVICE_COOKIE);
    const value = cookie ? cookieSignature.unsign(cookie, this.key) : false;
    if (!value) return null;
    const [id, user] = value.split(':');
    return id && user === userDigest(username) ? id : null;
  }

  /** After the right password: the browser is known for this username (its id kept when it has one). */
  remember(req: express.Request, res: express.Response, username: string, id: string | null): void {
    const deviceId = id ?? crypto.randomBytes(18).toString('base64url');
    setCookie(req, res, DEVICE_COOKIE, cookieSignature.sign(`${deviceId}:${userDigest(username)}`, this.key), DEVICE_DAYS * 86_400_000);
  }
}
