import express from 'express';
import { toIso } from '../../lib/clock';
import type { WebContext } from '../context';
import { positiveId } from '../forms';
import { can, requirePermission } from '../middleware/auth';

/**
 * Replies X could no longer serve, named on the dashboard (views/partials/unreadable-windows.ejs)
 * with the window and the reason, until an admin dismisses them.
 */
export function unreadableWindowRoutes({ services, sessions }: WebContext): express.Router {
  const router = express.Router();

  // Runs before the dashboard's own route and leaves what it found for its page.
  router.get('/', async (req, res, next) => {
    if (!can(req.user?.role, 'admin')) return next();
    const [windows, accounts, integrations] = await Promise.all([
      services.unreadableWindows.listOpen(), services.accounts.list(), services.integrations.list(),
    ]);
    res.locals.unreadableWindows = windows.map((window) => ({
      ...window,
      account: accounts.find((account) => account.id === window.accountId),
      integrations: integrations.filter((integration) => integration.accountId === window.accountId),
    }));
    next();
  });

  router.post('/unreadable-windows/:id/dismiss', requirePermission('admin'), async (req, res) => {
    const id = positiveId(req.params.id, 'window id');
    const dismissed = await services.unreadableWindows.dismiss(id, req.user?.username ?? 'an admin', toIso(services.clock.now()));
    await sessions.flash(req, dismissed ? 'success' : 'error', dismissed
      ? 'The window of unreadable replies is dismissed; it is no longer listed.'
      : `There is no listed window ${id}: it was dismissed already.`);
    res.redirect(303, '/');
  });

  return router;
}
