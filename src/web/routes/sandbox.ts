import express from 'express';
import { EmulatorInputError, type TimelineView } from '../../emulator/emulator';
import { NotFoundError } from '../../lib/errors';
import type { Account } from '../../store/accounts';
import type { WebContext } from '../context';
import { positiveId, raw, text } from '../forms';
import { requirePermission } from '../middleware/auth';

/**
 * The sandbox: the emulator's timeline of a sandbox account, and replies posted as invented
 * users, through the emulator's state in this process (its control paths are not served).
 */
export function sandboxRoutes({ services, sessions, sandbox }: WebContext): express.Router {
  const router = express.Router();
  router.use('/sandbox', requirePermission('admin'));

  async function loadSandboxAccount(idParam: unknown): Promise<Account> {
    const account = await services.accounts.get(positiveId(idParam, 'account id'));
    if (!account || account.environment !== 'sandbox') throw new NotFoundError(`There is no sandbox account ${String(idParam)}.`);
    return account;
  }

  router.get('/sandbox', async (_req, res) => {
    const accounts = (await services.accounts.list()).filter((account) => account.environment === 'sandbox');
    if (accounts.length === 1 && sandbox) return res.redirect(303, `/sandbox/accounts/${accounts[0].id}`);
    res.render('sandbox/index', { title: 'Sandbox', accounts, available: sandbox !== null });
  });

  router.get('/sandbox/accounts/:id', async (req, res) => {
    const account = await loadSandboxAccount(req.params.id);
    let timeline: TimelineView | null = null;
    let problem: string | null = null;
    if (!sandbox) problem = 'This server does not host the sandbox.';
    else if (!account.screenName) problem = 'The account has no screen name yet: run its login test on the X accounts page.';
    else {
      try {
        timeline = sandbox.timeline(account.screenName);
      } catch (error) {
        if (!(error instanceof EmulatorInputError)) throw error;
        problem = `The sandbox does not know @${account.screenName}: ${error.message}`;
      }
    }
    const accounts = (await services.accounts.list()).filter((other) => other.environment === 'sandbox');
    res.render('sandbox/timeline', { title: `Sandbox: @${account.screenName ?? account.id}`, account, accounts, timeline, problem, replyAs: 'alice' });
  });

  router.post('/sandbox/accounts/:id/replies', async (req, res) => {
    const account = await loadSandboxAccount(req.params.id);
    const inReplyTo = text(req, 'inReplyTo');
    const as = text(req, 'as').replace(/^@/, '');
    const body = raw(req, 'text');
    const back = `/sandbox/accounts/${account.id}`;
    if (!sandbox) throw new NotFoundError('This server does not host the sandbox.');
    if (!body.trim()) {
      await sessions.flash(req, 'error', 'Write the text of the reply.');
      return res.redirect(303, `${back}#tweet-${encodeURIComponent(inReplyTo)}`);
    }
    if (account.screenName && as.toLowerCase() === account.screenName.toLowerCase()) {
      await sessions.flash(req, 'error', `Reply as someone other than @${account.screenName}: the account's own tweets are never written into records.`);
      return res.redirect(303, `${back}#tweet-${encodeURIComponent(inReplyTo)}`);
    }
    // The sandbox delivers replies to this server by webhook; registered on first use unless turned off.
    await services.webhooks.ensureSandbox(account);
    const realTime = (await services.webhooks.status(account.id)).enabled;
    try {
      const reply = sandbox.postAs({ as, text: body, in_reply_to_tweet_id: inReplyTo });
      await sandbox.changesStored();
      await sessions.flash(req, 'success', realTime
        ? `@${reply.author_username} replied (tweet ${reply.id}). It reaches the record by webhook within a second.`
        : `@${reply.author_username} replied (tweet ${reply.id}). "Run now" on the dashboard collects it.`);
      res.redirect(303, `${back}#tweet-${encodeURIComponent(reply.id)}`);
    } catch (error) {
      if (!(error instanceof EmulatorInputError)) throw error;
      await sessions.flash(req, 'error', `The sandbox refused the reply: ${error.message}`);
      res.redirect(303, `${back}#tweet-${encodeURIComponent(inReplyTo)}`);
    }
  });

  return router;
}
