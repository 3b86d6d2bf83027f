import express from 'express';
import type { WebContext } from '../context';
import { can } from '../middleware/auth';

/** Raised "no replies for N hours" alerts, for the dashboard's banner (views/partials/no-replies-alert.ejs). */
export function noRepliesAlertRoutes({ services }: WebContext): express.Router {
  const router = express.Router();

  // Runs before the dashboard's own route and leaves what it found for its page.
  router.get('/', async (req, res, next) => {
    if (!can(req.user?.role, 'admin')) return next();
    const [alerts, integrations, accounts] = await Promise.all([
      services.noRepliesAlerts.alerts.list(), services.integrations.list(), services.accounts.list(),
    ]);
    res.locals.noRepliesAlerts = alerts.flatMap((alert) => {
      const integration = integrations.find((candidate) => candidate.id === alert.integrationId);
      if (!integration) return [];
      return [{ ...alert, integration, account: accounts.find((account) => account.id === integration.accountId) }];
    });
    next();
  });

  return router;
}
