import crypto from 'node:crypto';
import express from 'express';
import { sandboxApiBaseUrl } from '../../app';
import { toIso } from '../../lib/clock';
import { UserFacingError, errorMessage } from '../../lib/errors';
import { SecretBox, maskSecret } from '../../lib/secret-box';
import { addAccount, runLoginTest, validateApiBaseUrl } from '../../setup/account-setup';
import type { AccountEnvironment } from '../../store/accounts';
import { OAuthRequestStore, XAppStore } from '../../store/x-app';
import { exchangeVerifier, requestToken, XOAuthStepError, type XAppKeys } from '../../twitter/x-oauth-flow';
import type { WebContext } from '../context';
import { raw, text, type FieldErrors } from '../forms';
import { requirePermission } from '../middleware/auth';

/** How long a started connect may wait for the callback; X's own request tokens last about as long. */
const CONNECT_TTL_MS = 15 * 60 * 1000;
const X_AUTHORIZE_ORIGIN = 'https://api.x.com';

/**
 * The sandbox's own X app: derived from SECRET_KEY, so it is the same after every restart and
 * nobody has to enter keys for the built-in emulator.
 */
export function sandboxAppKeys(secretKey: string): XAppKeys {
  const derive = (purpose: string, length: number) => crypto.createHmac('sha256', secretKey).update(`sandbox X app ${purpose}`).digest('base64url').slice(0, length);
  return { consumerKey: `kbts-sandbox-${derive('consumer key', 20)}`, consumerSecret: derive('consumer secret', 40) };
}

/**
 * X sends the admin's browser back here: the address this browser uses (the session cookie is
 * there), which is also the one to allow in the X developer portal.
 */
function callbackUrlFor(req: express.Request): string {
  return `${req.protocol}://${req.get('host')}/accounts/connect/callback`;
}

function refused(message: string): UserFacingError {
  return new UserFacingError('oauth_refused', `${message}; nothing was changed. Start again with "Connect an account with X" on the X accounts page.`);
}

/**
 * "Connect an account with X": the X app's keys (entered once), then X's three-legged OAuth flow
 * (request token → X's authorize page → callback → access token), which adds or updates the
 * account with its four keys. Admins only; the request token is bound to the admin's session.
 */
export function accountConnectRoutes(context: WebContext): express.Router {
  const { services, sessions, sandbox } = context;
  const box = new SecretBox(services.config.secretKey);
  const apps = new XAppStore(services.db, box);
  const requests = new OAuthRequestStore(services.db, box);
  const router = express.Router();
  router.use(['/accounts', '/accounts/x-app', '/accounts/connect'], requirePermission('admin'));

  /** Where the X app's accounts go, as the browser sees it: X itself or the app's API base URL. */
  function authorizeOrigin(apiBaseUrl: string | null): string {
    return apiBaseUrl ? new URL(apiBaseUrl).origin : X_AUTHORIZE_ORIGIN;
  }

  // The accounts page's connect section: what it needs, and a form-action that lets its form go on
  // to X's authorize page (the page's CSP otherwise stops the redirect).
  router.get('/accounts', async (req, res, next) => {
    let app: { consumerKeyMasked: string; apiBaseUrl: string | null } | null = null;
    let appError: string | null = null;
    try {
      const stored = await apps.get();
      if (stored) app = { consumerKeyMasked: maskSecret(stored.consumerKey), apiBaseUrl: stored.apiBaseUrl };
    } catch (error) {
      appError = `the X app's stored keys cannot be read (${errorMessage(error)}); enter them again`;
    }
    res.locals.xConnect = { app, appError, sandboxAvailable: sandbox !== null, callbackUrl: callbackUrlFor(req) };
    if (app) {
      const policy = res.getHeader('content-security-policy');
      if (typeof policy === 'string') res.setHeader('content-security-policy', policy.replace("form-action 'self'", `form-action 'self' ${authorizeOrigin(app.apiBaseUrl)}`));
    }
    next();
  });

  const renderAppForm = async (res: express.Response, form: { consumerKey: string; apiBaseUrl: string }, errors: FieldErrors = {}) => {
    let stored: { consumerKeyMasked: string; consumerSecretMasked: string } | null = null;
    try {
      const app = await apps.get();
      if (app) stored = { consumerKeyMasked: maskSecret(app.consumerKey), consumerSecretMasked: maskSecret(app.consumerSecret) };
    } catch {
      stored = null;
    }
    res.render('accounts/x-app', { title: 'X app', form, errors, stored });
  };

  router.get('/accounts/x-app', async (_req, res) => {
    let apiBaseUrl = '';
    try {
      apiBaseUrl = (await apps.get())?.apiBaseUrl ?? '';
    } catch {
      apiBaseUrl = '';
    }
    await renderAppForm(res, { consumerKey: '', apiBaseUrl });
  });

  router.post('/accounts/x-app', async (req, res) => {
    const form = { consumerKey: raw(req, 'consumerKey').trim(), apiBaseUrl: text(req, 'apiBaseUrl') };
    const consumerSecret = raw(req, 'consumerSecret').trim();
    const errors: FieldErrors = {};
    let stored: XAppKeys | null = null;
    try {
      stored = await apps.get();
    } catch {
      stored = null;
    }
    // Like the accounts' keys: a blank field keeps what is stored, the first save needs both.
    const consumerKey = form.consumerKey || stored?.consumerKey || '';
    const secret = consumerSecret || stored?.consumerSecret || '';
    if (!consumerKey) errors.consumerKey = ['enter the X app\'s API key (consumer key), from the developer portal\'s "Keys and tokens"'];
    if (!secret) errors.consumerSecret = ['enter the X app\'s API key secret (consumer secret)'];
    let apiBaseUrl: string | null = null;
    if (form.apiBaseUrl) {
      try {
        apiBaseUrl = validateApiBaseUrl(form.apiBaseUrl);
      } catch (error) {
        if (!(error instanceof UserFacingError)) throw error;
        errors.apiBaseUrl = [error.message];
      }
    }
    if (Object.keys(errors).length > 0) return renderAppForm(res.status(400), form, errors);
    await apps.save({ consumerKey, consumerSecret: secret, apiBaseUrl }, toIso(services.clock.now()));
    await sessions.flash(req, 'success', 'X app saved: "Connect an account with X" is ready on this page.');
    res.redirect(303, '/accounts');
  });

  /** Step 1: a request token for this admin's session, then the browser goes to the authorize page. */
  router.post('/accounts/connect', async (req, res) => {
    if (!req.sessionIdHash) throw refused('connecting with X needs a signed-in browser session');
    const target = text(req, 'target') === 'sandbox' ? 'sandbox' : 'x';
    const description = text(req, 'description').slice(0, 200) || null;
    let keys: XAppKeys;
    let environment: AccountEnvironment;
    let apiBaseUrl: string | null;
    let authorizeBase: string | null = null;
    if (target === 'sandbox') {
      if (!sandbox) throw new UserFacingError('no_sandbox', 'This server does not host a sandbox; connect with the live X app instead.');
      keys = sandboxAppKeys(services.config.secretKey);
      sandbox.registerApp(keys.consumerKey, keys.consumerSecret);
      environment = 'sandbox';
      apiBaseUrl = null;
      // The browser reaches the sandbox on this server's address as it sees it.
      authorizeBase = '/sandbox/x';
    } else {
      let app;
      try {
        app = await apps.get();
      } catch (error) {
        throw refused(`the X app's stored keys cannot be read (${errorMessage(error)}); enter them again under "X app"`);
      }
      if (!app) throw refused('set the X app\'s consumer key and secret first, under "X app" on the X accounts page');
      keys = app;
      apiBaseUrl = app.apiBaseUrl;
      environment = apiBaseUrl ? 'custom' : 'live';
    }
    const callback = callbackUrlFor(req);
    let request;
    try {
      request = await requestToken(keys, environment === 'sandbox' ? sandboxApiBaseUrl(services.config) : apiBaseUrl, callback);
    } catch (error) {
      if (error instanceof XOAuthStepError) throw refused(error.message);
      throw error;
    }
    const now = services.clock.now();
    await requests.add({ token: request.token, tokenSecret: request.secret, sessionIdHash: req.sessionIdHash, environment, apiBaseUrl, description }, toIso(now), toIso(now.plus({ milliseconds: CONNECT_TTL_MS })));
    const authorizeUrl = authorizeBase ? `${authorizeBase}${new URL(request.authorizeUrl).pathname.replace(/^.*(\/oauth\/)/, '$1')}${new URL(request.authorizeUrl).search}` : request.authorizeUrl;
    res.redirect(303, authorizeUrl);
  });

  /** Step 3: X sends the browser back with the verifier (or with `denied`). */
  router.get('/accounts/connect/callback', async (req, res) => {
    const query = (name: string) => (typeof req.query[name] === 'string' ? (req.query[name] as string) : '');
    const now = toIso(services.clock.now());
    if (query('denied')) {
      if (req.sessionIdHash) await requests.take(query('denied'), req.sessionIdHash, now);
      await sessions.flash(req, 'warning', 'X authorization was denied; nothing was changed.');
      return res.redirect(303, '/accounts');
    }
    const token = query('oauth_token');
    const verifier = query('oauth_verifier');
    if (!token || !verifier) throw refused('the callback from X has no oauth_token or oauth_verifier');
    const taken = await requests.take(token, req.sessionIdHash ?? '', now);
    if (!taken.ok) {
      throw refused({
        unknown: 'this X authorization is unknown or was already used (each one works once)',
        other_session: 'this X authorization was started in another browser session',
        expired: `this X authorization expired (it lasts ${CONNECT_TTL_MS / 60_000} minutes)`,
      }[taken.reason]);
    }
    const { pending } = taken;
    let keys: XAppKeys;
    if (pending.environment === 'sandbox') {
      keys = sandboxAppKeys(services.config.secretKey);
    } else {
      const app = await apps.get();
      if (!app) throw refused('the X app\'s keys were removed while connecting');
      keys = app;
    }
    let access;
    try {
      access = await exchangeVerifier(keys, pending.environment === 'sandbox' ? sandboxApiBaseUrl(services.config) : pending.apiBaseUrl, { token, secret: pending.tokenSecret }, verifier);
    } catch (error) {
      if (error instanceof XOAuthStepError) throw refused(error.message);
      throw error;
    }
    const credentials = { apiKey: keys.consumerKey, apiKeySecret: keys.consumerSecret, accessToken: access.accessToken, accessTokenSecret: access.accessSecret };
    const deps = services.accountSetup;
    const existing = (await services.accounts.list()).find((account) =>
      account.xUserId === access.userId && account.environment === pending.environment && account.apiBaseUrl === pending.apiBaseUrl);
    try {
      if (existing) {
        // Same X user, same server: the login test with the new keys first, then they replace the old ones.
        const identity = await runLoginTest(deps.clientFor(credentials, existing.environment, existing.apiBaseUrl));
        await services.accounts.updateCredentials(existing.id, credentials, now);
        await services.accounts.recordLoginTest(existing.id, identity, now);
        await sessions.flash(req, 'success', `Account ${existing.id} connected again with X: logged in as @${access.screenName} (user id ${access.userId}); its keys were replaced.`);
        return res.redirect(303, `/accounts/${existing.id}`);
      }
      const created = await addAccount(deps, { description: pending.description ?? `@${access.screenName}`, environment: pending.environment, apiBaseUrl: pending.apiBaseUrl, credentials });
      await sessions.flash(req, 'success', `Account ${created.id} connected with X: logged in as @${created.screenName} (user id ${created.xUserId}).`);
      res.redirect(303, `/accounts/${created.id}`);
    } catch (error) {
      if (!(error instanceof UserFacingError)) throw error;
      throw refused(`X authorized @${access.screenName}, but ${error.message}`);
    }
  });

  return router;
}
