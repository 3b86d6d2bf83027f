import express from 'express';
import { EmulatorInputError } from '../../emulator/emulator';
import { NotFoundError } from '../../lib/errors';
import type { WebContext } from '../context';
import { checked, positiveId, raw, text } from '../forms';
import { requirePermission } from '../middleware/auth';

/**
 * The sandbox's channel forms: a mention of the account, or a direct message to it, sent as an
 * invented user, through the emulator's state in this process.
 */
export function sandboxChannelRoutes({ services, sessions, sandbox }: WebContext): express.Router {
  const router = express.Router();
  router.use('/sandbox', requirePermission('admin'));

  router.post('/sandbox/accounts/:id/send-as', async (req, res) => {
    const account = await services.accounts.get(positiveId(req.params.id, 'account id'));
    if (!account || account.environment !== 'sandbox') throw new NotFoundError(`There is no sandbox account ${String(req.params.id)}.`);
    if (!sandbox) throw new NotFoundError('This server does not host the sandbox.');
    const back = `/sandbox/accounts/${account.id}#send-as`;
    const kind = text(req, 'kind');
    const as = text(req, 'as').replace(/^@/, '');
    const body = raw(req, 'text');
    const mediaOnly = kind === 'dm' && checked(req, 'media');
    const fail = async (message: string) => {
      await sessions.flash(req, 'error', message);
      res.redirect(303, back);
    };
    if (!account.screenName) return fail('The account has no screen name yet: run its login test on the X accounts page.');
    if (kind !== 'mention' && kind !== 'dm') return fail('Choose a mention or a direct message.');
    if (as.toLowerCase() === account.screenName.toLowerCase()) return fail(`Write as someone other than @${account.screenName}.`);
    if (!body.trim() && !mediaOnly) return fail(kind === 'dm' ? 'Write the text of the message, or send a photo only.' : 'Write the text of the mention.');
    await services.webhooks.ensureSandbox(account);
    try {
      if (kind === 'mention') {
        const tweet = sandbox.postAs({ as, text: `@${account.screenName} ${body}` });
        await sandbox.changesStored();
        await sessions.flash(req, 'success', `@${tweet.author_username} mentioned @${account.screenName} (tweet ${tweet.id}). A mentions channel makes it a record at the next reply poll, or at once by webhook.`);
      } else {
        const dm = sandbox.dms.sendAs({ as, to: account.screenName, text: body, media: mediaOnly });
        await sessions.flash(req, 'success', `@${dm.sender_username} sent @${account.screenName} a direct message (event ${dm.id}). A direct-messages channel writes it into a record at the next reply poll, or at once by webhook.`);
      }
      res.redirect(303, back);
    } catch (error) {
      if (!(error instanceof EmulatorInputError)) throw error;
      await fail(`The sandbox refused it: ${error.message}`);
    }
  });

  return router;
}
