import crypto from 'node:crypto';
import express from 'express';
import { DateTime } from 'luxon';
import { toIso } from '../../lib/clock';
import { NotFoundError } from '../../lib/errors';
import { hashPassword, verifyPassword } from '../../lib/password';
import { ROLES, type Role } from '../../store/users';
import { TalkbackSettingsStore } from '../../store/agent-replies';
import type { WebContext } from '../context';
import { checked, checkNewUser, positiveId, raw, text, type FieldErrors } from '../forms';
import { requirePermission } from '../middleware/auth';
import { FORM_TOKEN_FIELD } from '../middleware/form-once';
import { hashToken } from '../middleware/session';

export const API_TOKEN_PREFIX = 'kbts_';

/** The lifetimes a new token may be given, in days; "never" is the default, as before. */
export const TOKEN_LIFETIMES = ['never', '7', '30', '90', '365'] as const;

/** One's own page (password, API tokens) and, for admins, the users. */
const NEW_API_TOKEN = 'api-token:new';
/** A repeat of "Create token" this soon after the first (a double click) is shown the same token again. */
const SHOW_AGAIN_SECONDS = 60;

export function userRoutes({ services, sessions, forms }: WebContext): express.Router {
  const router = express.Router();
  const now = () => toIso(services.clock.now());

  async function renderMe(req: express.Request, res: express.Response, extra: { newToken?: string | null; errors?: FieldErrors } = {}) {
    const user = req.user!;
    res.render('me', {
      title: 'Your account',
      tokens: await services.apiTokens.listForUser(user.id),
      origin: `${req.protocol}://${req.get('host') ?? 'localhost'}`,
      newToken: extra.newToken ?? null,
      errors: extra.errors ?? {},
      formToken: await forms.issueFormToken(req, NEW_API_TOKEN),
      lifetimes: TOKEN_LIFETIMES,
      now: now(),
      displayName: await new TalkbackSettingsStore(services.db).displayName(user.id),
    });
  }

  router.get('/me', (req, res) => renderMe(req, res));

  router.post('/me/password', async (req, res) => {
    const user = await services.users.get(req.user!.id);
    if (!user) throw new NotFoundError('Your user no longer exists.');
    const errors: FieldErrors = {};
    if (!(await verifyPassword(raw(req, 'currentPassword'), user.passwordHash))) errors.currentPassword = ['this is not your current password'];
    Object.assign(errors, Object.fromEntries(Object.entries(checkNewUser(user.username, raw(req, 'password'), raw(req, 'passwordRepeat')))));
    if (Object.keys(errors).length > 0) return renderMe(req, res.status(400), { errors });
    await services.users.setPasswordHash(user.id, await hashPassword(raw(req, 'password')));
    // Other sessions of this user end: whoever knew the old password is out.
    await services.sessions.removeForUser(user.id, req.sessionIdHash);
    // Tokens are not derived from the password; a person who fears the old one leaked may end them too.
    const endedTokens = checked(req, 'endTokens') ? await services.apiTokens.removeForUser(user.id) : 0;
    await sessions.flash(req, 'success', `Your password was changed; your other sessions were signed out${checked(req, 'endTokens') ? `, and your ${endedTokens} API token(s) were revoked` : ''}.`);
    res.redirect(303, '/me');
  });

  router.post('/me/tokens', async (req, res) => {
    const name = text(req, 'name');
    if (!name || name.length > 100) return renderMe(req, res.status(400), { errors: { tokenName: ['name the token (up to 100 characters), e.g. "import script"'] } });
    const lifetime = text(req, 'lifetime') || 'never';
    if (!(TOKEN_LIFETIMES as readonly string[]).includes(lifetime)) {
      return renderMe(req, res.status(400), { errors: { tokenLifetime: [`choose how long the token works: ${TOKEN_LIFETIMES.join(', ')} (days)`] } });
    }
    const submission = await forms.submitOnce(req, NEW_API_TOKEN);
    const formToken = raw(req, FORM_TOKEN_FIELD);
    // From a form, the token is derived from the form's one-time token with the server's key, so a
    // repeat of the same form can show the same token without it being stored anywhere.
    const tokenOf = () => API_TOKEN_PREFIX + (formToken === ''
      ? crypto.randomBytes(32).toString('base64url')
      : crypto.createHmac('sha256', services.config.secretKey).update(`${NEW_API_TOKEN}:${formToken}`).digest('base64url'));
    if (submission.kind === 'stale') return renderMe(req, res.status(409), { errors: { tokenName: [submission.message.replace('the record', 'the token')] } });
    if (submission.kind === 'repeat') {
      res.set('Cache-Control', 'no-store');
      const createdAt = DateTime.fromISO(submission.result);
      if (services.clock.now().diff(createdAt, 'seconds').seconds <= SHOW_AGAIN_SECONDS) return renderMe(req, res, { newToken: tokenOf() });
      await sessions.flash(req, 'info', 'This form had already created its token (listed below); it was shown once then. Revoke it and create another if it was not copied.');
      return res.redirect(303, '/me');
    }
    const token = tokenOf();
    const expiresAt = lifetime === 'never' ? null : toIso(services.clock.now().plus({ days: Number(lifetime) }));
    await services.apiTokens.create({ userId: req.user!.id, name, tokenHash: hashToken(token), tokenPrefix: token.slice(0, 12), expiresAt }, now())
      .catch(async (error: unknown) => {
        await submission.release();
        throw error;
      });
    await submission.finish(now());
    // Shown on this response only: it is stored as a hash and cannot be shown again.
    res.set('Cache-Control', 'no-store');
    await renderMe(req, res, { newToken: token });
  });

  router.post('/me/tokens/:id/delete', async (req, res) => {
    const removed = await services.apiTokens.remove(req.user!.id, positiveId(req.params.id, 'token id'));
    await sessions.flash(req, removed ? 'success' : 'error', removed ? 'The token was revoked.' : 'There is no such token of yours.');
    res.redirect(303, '/me');
  });

  router.use('/users', requirePermission('admin'));

  async function renderUsers(res: express.Response, extra: { errors?: FieldErrors; values?: { username: string; role: string } } = {}) {
    res.render('users', {
      title: 'Users', users: await services.users.list(), roles: ROLES, errors: extra.errors ?? {}, values: extra.values ?? { username: '', role: 'editor' },
      tokens: await services.apiTokens.listAll(), now: now(),
    });
  }

  router.post('/users/tokens/:id/delete', async (req, res) => {
    const removed = await services.apiTokens.removeAny(positiveId(req.params.id, 'token id'));
    await sessions.flash(req, removed ? 'success' : 'error', removed ? `The token '${removed.name}' of '${removed.username}' was revoked.` : 'There is no such token.');
    res.redirect(303, '/users');
  });

  router.get('/users', (_req, res) => renderUsers(res));

  router.post('/users', async (req, res) => {
    const username = text(req, 'username');
    const role = text(req, 'role') as Role;
    const errors = checkNewUser(username, raw(req, 'password'), null);
    if (!ROLES.includes(role)) errors.role = ['choose admin, editor or viewer'];
    if (!errors.username && await services.users.findByUsername(username)) errors.username = [`user '${username}' already exists`];
    if (Object.keys(errors).length > 0) return renderUsers(res.status(400), { errors, values: { username, role } });
    await services.users.create(username, await hashPassword(raw(req, 'password')), role, now());
    await sessions.flash(req, 'success', `User '${username}' created as ${role}.`);
    res.redirect(303, '/users');
  });

  /** The last admin stays, so the product can always be administered. */
  async function isLastAdmin(id: number): Promise<boolean> {
    const user = await services.users.get(id);
    return user?.role === 'admin' && (await services.users.countByRole('admin')) <= 1;
  }

  router.post('/users/:id/role', async (req, res) => {
    const id = positiveId(req.params.id, 'user id');
    const role = text(req, 'role') as Role;
    const user = await services.users.get(id);
    if (!user) throw new NotFoundError(`User ${id} does not exist.`);
    if (!ROLES.includes(role)) await sessions.flash(req, 'error', 'Choose admin, editor or viewer.');
    else if (role !== 'admin' && await isLastAdmin(id)) await sessions.flash(req, 'error', `'${user.username}' is the last admin and stays one.`);
    else {
      await services.users.setRole(id, role);
      await sessions.flash(req, 'success', `'${user.username}' is now ${role}.`);
    }
    res.redirect(303, '/users');
  });

  router.post('/users/:id/delete', async (req, res) => {
    const id = positiveId(req.params.id, 'user id');
    const user = await services.users.get(id);
    if (!user) throw new NotFoundError(`User ${id} does not exist.`);
    if (id === req.user!.id) await sessions.flash(req, 'error', 'You cannot delete yourself.');
    else if (await isLastAdmin(id)) await sessions.flash(req, 'error', `'${user.username}' is the last admin and stays.`);
    else {
      await services.users.remove(id);
      await sessions.flash(req, 'success', `User '${user.username}' deleted; their sessions and API tokens with them.`);
    }
    res.redirect(303, '/users');
  });

  return router;
}
