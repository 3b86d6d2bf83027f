import type express from 'express';
import type { Services } from '../../app';
import { UserFacingError } from '../../lib/errors';
import type { Role } from '../../store/users';

/**
 * Until the first user exists, every page leads to the first-run form. Once one exists it stays
 * so (the last admin cannot be removed), so the answer is remembered.
 */
export function firstRunGate(services: Services): express.RequestHandler {
  let hasUsers = false;
  return async (req, res, next) => {
    if (!hasUsers) hasUsers = (await services.users.count()) > 0;
    if (hasUsers || req.path === '/setup') return next();
    res.redirect(303, '/setup');
  };
}

/** A local path to return to after signing in; anything else (//evil.example, https://…) is dropped. */
export function localPath(value: unknown): string | null {
  return typeof value === 'string' && /^\/(?![/\\])/.test(value) ? value : null;
}

export function requireSignedIn(): express.RequestHandler {
  return (req, res, next) => {
    if (req.user) return next();
    const back = req.method === 'GET' && req.originalUrl !== '/' ? `?next=${encodeURIComponent(req.originalUrl)}` : '';
    res.redirect(303, `/login${back}`);
  };
}

/** What each role may do (DESIGN.md section 6): admin everything, editor writes records, viewer reads. */
const GRANTS: Record<Role, ReadonlySet<string>> = {
  admin: new Set(['admin', 'write-records', 'read']),
  editor: new Set(['write-records', 'read']),
  viewer: new Set(['read']),
};
export type Permission = 'admin' | 'write-records' | 'read';

export function can(role: Role | undefined, permission: Permission): boolean {
  return role !== undefined && GRANTS[role].has(permission);
}

export function requirePermission(permission: Permission): express.RequestHandler {
  return (req, _res, next) => {
    if (can(req.user?.role, permission)) return next();
    next(new UserFacingError('forbidden', permission === 'admin'
      ? 'Only admins can open this page.'
      : 'Your role does not allow this: editors and admins create and edit records.', { status: 403 }));
  };
}
