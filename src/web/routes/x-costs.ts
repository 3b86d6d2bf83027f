import express from 'express';
import { UserFacingError } from '../../lib/errors';
import { formatUsd } from '../../settings/prices';
import { setMonthlyBudget, type AccountCostsDeps } from '../../sync/account-costs';
import type { WebContext } from '../context';
import { positiveId } from '../forms';
import { can, requirePermission } from '../middleware/auth';

/**
 * The cost meter on the pages: each account's estimate today and this month (with the 80 %
 * warning and the 100 % stop), left for the dashboard and the X accounts page
 * (views/partials/x-costs.ejs), and the budget form's POST.
 */
export function xCostRoutes({ services, sessions }: WebContext): express.Router {
  const router = express.Router();
  const deps: AccountCostsDeps = { db: services.db, accounts: services.accounts, meter: services.costs.meter, probe: services.costs.probe };

  // The prices, wherever a page says what a text will cost (the record form, the wizard).
  router.use((_req, res, next) => {
    res.locals.xPrices = services.costs.meter.prices;
    res.locals.formatUsd = formatUsd;
    next();
  });

  // The dashboard's and the X accounts page's figures: found before those pages' own routes run, and
  // left for them (a middleware, not a route of its own, so it answers nothing by itself).
  router.use(async (req, res, next) => {
    if (req.method !== 'GET' || (req.path !== '/' && req.path !== '/accounts') || !can(req.user?.role, 'admin')) return next();
    const accounts = await services.accounts.list();
    res.locals.xCosts = await Promise.all(accounts.map(async (account) => ({ account, estimate: await services.costs.meter.estimate(account.id) })));
    next();
  });

  router.post('/accounts/:id/budget', requirePermission('admin'), async (req, res) => {
    const accountId = positiveId(req.params.id, 'account id');
    const given = typeof req.body?.budget === 'string' ? req.body.budget : '';
    try {
      const estimate = await setMonthlyBudget(deps, accountId, given);
      await sessions.flash(req, 'success', estimate.monthlyBudgetUsd === null
        ? `Account ${accountId}: no monthly budget.`
        : `Account ${accountId}: monthly budget ${formatUsd(estimate.monthlyBudgetUsd)} (${formatUsd(estimate.month.usd)} used this month).`);
    } catch (error) {
      if (!(error instanceof UserFacingError)) throw error;
      await sessions.flash(req, 'error', `Account ${accountId}: the budget “${given}” was not saved: ${error.message}. The budget stays as it was.`);
    }
    res.redirect(303, '/accounts#x-costs');
  });

  return router;
}
