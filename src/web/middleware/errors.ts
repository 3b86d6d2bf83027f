import type express from 'express';
import type { Logger } from '../../lib/logger';
import { NotFoundError, UserFacingError, errorMessage } from '../../lib/errors';
import { can, type Permission } from './auth';

/** What every page's layout reads; also set for errors raised before the page middleware ran. */
export function setPageLocals(req: express.Request, res: express.Response): void {
  res.locals.currentUser = req.user ?? null;
  res.locals.path = req.path;
  res.locals.can = (permission: Permission) => can(req.user?.role, permission);
  res.locals.flash ??= null;
  res.locals.csrfToken ??= '';
}

export function notFound(): express.RequestHandler {
  return (req, _res, next) => next(new NotFoundError(`There is no page at ${req.path}.`));
}

/**
 * People see the messages of errors meant for them; anything else is a bug, logged, and shown
 * as a plain failure. Body-parser errors (bad JSON, too large) carry their own 4xx status.
 */
export function errorHandler(logger: Logger): express.ErrorRequestHandler {
  return (error, req, res, next) => {
    if (res.headersSent) return next(error);
    let status = 500;
    let field: string | undefined;
    let message = 'Something went wrong on the server. The problem has been logged; try again, and if it persists look at the server log.';
    if (error instanceof UserFacingError) {
      status = error.status;
      message = error.message;
      field = error.field;
    } else if (typeof error?.status === 'number' && error.status >= 400 && error.status < 500) {
      status = error.status;
      message = error.type === 'entity.parse.failed' ? 'The request body is not valid JSON.' : errorMessage(error);
    } else {
      logger.error('web request failed', { method: req.method, path: req.path, error: errorMessage(error), err: error });
    }
    res.status(status);
    if (req.path.startsWith('/api/') || req.accepts(['html', 'json']) === 'json') {
      res.json(field === undefined ? { error: message } : { error: message, field });
      return;
    }
    if (res.locals.currentUser === undefined) setPageLocals(req, res);
    res.render('error', { title: status === 404 ? 'Not found' : status === 403 ? 'Not allowed' : 'Error', status, message });
  };
}
