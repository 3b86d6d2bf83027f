import type express from 'express';

/** The request's cookies; only the few this app sets are ever looked at. */
export function readCookies(req: express.Request): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at < 0) continue;
    const name = part.slice(0, at).trim();
    if (!name || cookies.has(name)) continue;
    try {
      cookies.set(name, decodeURIComponent(part.slice(at + 1).trim()));
    } catch {
      // A malformed value is treated as absent.
    }
  }
  return cookies;
}

/** httpOnly and SameSite=Lax always; Secure when the request came over HTTPS. */
export function setCookie(req: express.Request, res: express.Response, name: string, value: string, maxAgeMs: number | null): void {
  res.cookie(name, value, {
    httpOnly: true,
    sameSite: 'lax',
    secure: req.secure,
    path: '/',
    ...(maxAgeMs === null ? {} : { maxAge: maxAgeMs }),
  });
}

export function clearCookie(req: express.Request, res: express.Response, name: string): void {
  res.clearCookie(name, { httpOnly: true, sameSite: 'lax', secure: req.secure, path: '/' });
}
