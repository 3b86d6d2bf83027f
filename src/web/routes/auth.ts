import express from 'express';
import { toIso } from '../../lib/clock';
import { hashPassword } from '../../lib/password';
import { createExampleTable } from '../../kb/example-table';
import { errorMessage } from '../../lib/errors';
import type { WebContext } from '../context';
import { checked, checkNewUser, raw, text, type FieldErrors } from '../forms';
import { localPath } from '../middleware/auth';
import { KnownDevices } from '../middleware/known-device';

// Compared against when the username is unknown, so a wrong name takes as long as a wrong password.
const DUMMY_HASH = hashPassword('not a real password, only for timing');

/** First run (the first admin, and the example table) and signing in and out. */
export function authRoutes({ services, sessions, loginLimiter, checkPassword }: WebContext): express.Router {
  const router = express.Router();
  const devices = new KnownDevices(services.config.secretKey);

  router.get('/setup', async (_req, res) => {
    if ((await services.users.count()) > 0) return res.redirect(303, '/login');
    res.render('setup', { title: 'Welcome', values: { username: 'admin', exampleTable: true }, errors: {} });
  });

  router.post('/setup', async (req, res) => {
    if ((await services.users.count()) > 0) return res.redirect(303, '/login');
    const username = text(req, 'username');
    const password = raw(req, 'password');
    const errors: FieldErrors = checkNewUser(username, password, raw(req, 'passwordRepeat'));
    const exampleTable = checked(req, 'exampleTable');
    if (Object.keys(errors).length > 0) {
      return res.status(400).render('setup', { title: 'Welcome', values: { username, exampleTable }, errors });
    }
    const id = await services.users.createFirstAdmin(username, await hashPassword(password), toIso(services.clock.now()));
    // Another first-run form sent at the same moment made the admin: this one signs in instead.
    if (id === null) return res.redirect(303, '/login');
    let notice = `Welcome, ${username}. Start by adding an X account: a Sandbox account needs no keys.`;
    if (exampleTable) {
      try {
        const table = await createExampleTable(services.db);
        notice += ` The example table '${table}' is ready to be mapped in the integration wizard.`;
      } catch (error) {
        notice += ` The example table was not created: ${errorMessage(error)}.`;
      }
    }
    await sessions.start(req, res, { id, username, role: 'admin' });
    await sessions.flash(req, 'success', notice);
    res.redirect(303, '/');
  });

  router.get('/login', (req, res) => {
    if (req.user) return res.redirect(303, '/');
    res.render('login', { title: 'Sign in', username: '', next: localPath(req.query.next) ?? '', error: null });
  });

  router.post('/login', async (req, res) => {
    const username = text(req, 'username');
    const password = raw(req, 'password');
    const next = localPath(text(req, 'next'));
    const page = { title: 'Sign in', username, next: next ?? '' };
    // Counted before the password is checked, so parallel guesses cannot outrun the count.
    const device = devices.idFor(req, username);
    const admission = await loginLimiter.admit(username, req.ip ?? 'unknown', device);
    if (!admission.allowed) {
      res.set('Retry-After', String(admission.retryAfterSeconds));
      return res.status(429).render('login', {
        ...page, error: `Too many failed sign-ins for this name from your address. Wait ${admission.retryAfterSeconds} second(s) and try again.`,
      });
    }
    const user = username ? await services.users.findByUsername(username) : undefined;
    const valid = await checkPassword(password, user?.passwordHash ?? await DUMMY_HASH);
    if (!user || !valid) return res.status(401).render('login', { ...page, error: 'Wrong username or password.' });
    await loginLimiter.succeeded(admission.ticket);
    devices.remember(req, res, user.username, device);
    await sessions.start(req, res, { id: user.id, username: user.username, role: user.role });
    res.redirect(303, next ?? '/');
  });

  router.post('/logout', async (req, res) => {
    await sessions.end(req, res);
    res.redirect(303, '/login');
  });

  return router;
}
