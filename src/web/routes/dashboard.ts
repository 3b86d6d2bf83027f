import express from 'express';
import { errorMessage } from '../../lib/errors';
import type { Account } from '../../store/accounts';
import type { WebContext } from '../context';
import { positiveId } from '../forms';
import { can, requirePermission } from '../middleware/auth';

/** The tightest rate-limit window of an account, as people read it. */
function headroom(account: Account | undefined): Array<{ endpoint: string; remaining: number; limit: number; reset: string }> {
  if (!account) return [];
  return Object.entries(account.rateLimits)
    // Keys are "GET /2/users/:id/mentions"; rows saved by earlier versions wrote the "2" as ":id".
    .map(([endpoint, state]) => ({ endpoint: endpoint.replace(/^(\w+) \/:id\//, '$1 /2/'), remaining: state.remaining, limit: state.limit, reset: new Date(state.reset * 1000).toISOString() }))
    .sort((a, b) => a.remaining / a.limit - b.remaining / b.limit);
}

/**
 * The colour of a run's result box: green only when nothing failed. Errors, or records that all
 * failed, are red; some failed beside others published (or the account busy) is a warning.
 */
export function runColour(counts: { published: number; failed: number; errors: string[]; accountsBusy: number }): 'success' | 'warning' | 'error' {
  if (counts.errors.length > 0 || (counts.failed > 0 && counts.published === 0)) return 'error';
  if (counts.failed > 0 || counts.accountsBusy > 0) return 'warning';
  return 'success';
}

export function dashboardRoutes({ services, sessions, scheduler }: WebContext): express.Router {
  const router = express.Router();

  router.get('/', async (req, res) => {
    // Only admins run integrations; the others start where their work is.
    if (!can(req.user?.role, 'admin')) return res.redirect(303, '/records');
    const [integrations, accounts] = await Promise.all([services.integrations.list(), services.accounts.list()]);
    const accountsById = new Map(accounts.map((account) => [account.id, account]));
    const rows = await Promise.all(integrations.map(async (integration) => {
      const account = accountsById.get(integration.accountId);
      return {
        integration,
        account,
        counts: await services.publications.countByState(integration.id),
        repliesApplied: await services.communications.countApplied(integration.id),
        nextRun: integration.status === 'active' ? scheduler.nextRun(integration.id) : null,
        headroom: headroom(account),
        state: integration.status === 'paused' ? 'paused' : integration.lastError ? 'error' : 'active',
      };
    }));
    res.render('dashboard', { title: 'Dashboard', rows, accountCount: accounts.length });
  });

  router.post('/integrations/:id/run', requirePermission('admin'), async (req, res) => {
    const id = positiveId(req.params.id, 'integration id');
    const integration = await services.integrations.get(id);
    if (!integration) {
      await sessions.flash(req, 'error', `Integration ${id} does not exist.`);
    } else if (integration.status !== 'active') {
      await sessions.flash(req, 'error', `Integration ${id} is paused${integration.pausedReason ? ` (${integration.pausedReason})` : ''}; resume it to run it.`);
    } else {
      try {
        const counts = await scheduler.runNow(id);
        const summary = `published ${counts.published}, skipped ${counts.skipped}, failed ${counts.failed}, waiting ${counts.deferred}; `
          + `replies applied ${counts.repliesApplied}, logged only ${counts.repliesLogged}`;
        const problems = counts.errors.length ? ` Problems: ${counts.errors.join('; ')}` : '';
        const busy = counts.accountsBusy ? ' The account was being worked by another process; try again in a moment.' : '';
        await sessions.flash(req, runColour(counts), `Ran integration ${id}: ${summary}.${problems}${busy}`);
      } catch (error) {
        await sessions.flash(req, 'error', `Integration ${id} could not run: ${errorMessage(error)}`);
      }
    }
    res.redirect(303, '/');
  });

  return router;
}
