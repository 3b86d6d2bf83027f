import express from 'express';
import { NotFoundError, UserFacingError } from '../../lib/errors';
import type { WebContext } from '../context';
import { positiveId, text } from '../forms';
import { requirePermission } from '../middleware/auth';

/**
 * The X accounts page's real-time replies section: its status (the same as `account webhook
 * status`) for the page's partial, and the switch. Admins only, as the rest of the page.
 */
export function accountWebhookRoutes({ services, sessions }: WebContext): express.Router {
  const router = express.Router();
  router.use('/accounts/:id', requirePermission('admin'));

  // The account page renders views/partials/webhook-status.ejs from these locals.
  router.get('/accounts/:id', async (req, res, next) => {
    const id = Number(req.params.id);
    const account = Number.isSafeInteger(id) && id > 0 ? await services.accounts.get(id) : undefined;
    if (account) {
      res.locals.webhook = {
        status: await services.webhooks.status(account.id),
        available: services.webhooks.callbackUrl(account) !== null,
        sandbox: account.environment === 'sandbox',
      };
    }
    next();
  });

  router.post('/accounts/:id/webhook', async (req, res) => {
    const id = positiveId(req.params.id, 'account id');
    if (!(await services.accounts.get(id))) throw new NotFoundError(`Account ${id} does not exist.`);
    const action = text(req, 'action');
    const back = `/accounts/${id}#webhook`;
    try {
      if (action === 'enable') {
        const minutesText = text(req, 'backstopMinutes');
        const minutes = minutesText === '' ? undefined : /^\d+$/.test(minutesText) ? Number(minutesText) : NaN;
        if (Number.isNaN(minutes)) throw new UserFacingError('validation', `the backstop poll interval is a whole number of minutes from 1 to 1440, not '${minutesText}'`);
        const status = await services.webhooks.enable(id, { backstopMinutes: minutes });
        await sessions.flash(req, 'success', `Real-time replies are on: X delivers replies and mentions to ${status.webhook_url}; the mentions poll runs every ${status.backstop_minutes} minutes as a backstop.`);
      } else if (action === 'disable') {
        const status = await services.webhooks.disable(id);
        await sessions.flash(req, status.last_error ? 'error' : 'success', status.last_error ?? 'Real-time replies are off: the poll reads replies at the integration\'s frequency again.');
      } else {
        throw new UserFacingError('validation', `the action must be enable or disable, not '${action}'`);
      }
    } catch (error) {
      if (!(error instanceof UserFacingError)) throw error;
      await sessions.flash(req, 'error', error.message);
    }
    res.redirect(303, back);
  });

  return router;
}
