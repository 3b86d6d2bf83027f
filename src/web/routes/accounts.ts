import express from 'express';
import { addAccount, removeAccount, requireAllKeysForNewAddress, runLoginTest, testAccount, updateAccount, validateApiBaseUrl } from '../../setup/account-setup';
import { provisionSandboxUser } from '../../setup/sandbox-setup';
import { NotFoundError, UserFacingError, ValidationError, errorMessage } from '../../lib/errors';
import { maskSecret } from '../../lib/secret-box';
import type { Account, AccountEnvironment } from '../../store/accounts';
import type { XCredentials } from '../../twitter/x-client-factory';
import type { WebContext } from '../context';
import { positiveId, text, type FieldErrors } from '../forms';
import { requirePermission } from '../middleware/auth';

const SECRET_FIELDS = ['apiKey', 'apiKeySecret', 'accessToken', 'accessTokenSecret'] as const;
const SECRET_LABELS: Record<(typeof SECRET_FIELDS)[number], string> = {
  apiKey: 'API key', apiKeySecret: 'API key secret', accessToken: 'access token', accessTokenSecret: 'access token secret',
};

type LoginTestAnswer = { screenName: string; xUserId: string } | { issuedOnSave: string };

interface AccountForm {
  description: string;
  /** What the form offers: the live API (optionally at another address) or the built-in sandbox. */
  environment: 'live' | 'sandbox';
  apiBaseUrl: string;
  credentials: Partial<XCredentials>;
}

function readForm(req: express.Request): AccountForm {
  const credentials: Partial<XCredentials> = {};
  for (const field of SECRET_FIELDS) {
    const value = text(req, field);
    if (value) credentials[field] = value;
  }
  return {
    description: text(req, 'description'),
    environment: text(req, 'environment') === 'sandbox' ? 'sandbox' : 'live',
    apiBaseUrl: text(req, 'apiBaseUrl'),
    credentials,
  };
}

/** An API base URL turns a live account into one for an X-compatible server. */
function storedEnvironment(form: AccountForm): AccountEnvironment {
  if (form.environment === 'sandbox') return 'sandbox';
  return form.apiBaseUrl ? 'custom' : 'live';
}

function formFrom(account: Account): AccountForm {
  return { description: account.description, environment: account.environment === 'sandbox' ? 'sandbox' : 'live', apiBaseUrl: account.apiBaseUrl ?? '', credentials: {} };
}

/** The API base URL's own rules, before anything is sent there: a refusal names the address given. */
function apiBaseUrlProblem(form: AccountForm): string | null {
  if (form.environment === 'sandbox') return form.apiBaseUrl ? 'the sandbox is this server; leave the API base URL blank' : null;
  if (!form.apiBaseUrl) return null;
  try {
    validateApiBaseUrl(form.apiBaseUrl);
    return null;
  } catch (error) {
    if (error instanceof UserFacingError) return error.message;
    throw error;
  }
}

function checkForm(form: AccountForm, isNew: boolean): FieldErrors {
  const errors: FieldErrors = {};
  if (!form.description) errors.description = ['give the account a description, e.g. "Newsroom account"'];
  const addressProblem = apiBaseUrlProblem(form);
  if (addressProblem) errors.apiBaseUrl = [addressProblem];
  const given = SECRET_FIELDS.filter((field) => form.credentials[field]);
  if (isNew && form.environment === 'live') {
    for (const field of SECRET_FIELDS) if (!form.credentials[field]) errors[field] = [`enter the ${SECRET_LABELS[field]}`];
  }
  if (isNew && form.environment === 'sandbox' && given.length > 0 && given.length < SECRET_FIELDS.length) {
    for (const field of SECRET_FIELDS) if (!form.credentials[field]) errors[field] = ['give all four keys of an existing sandbox user, or none for a new one'];
  }
  return errors;
}

function isComplete(credentials: Partial<XCredentials>): credentials is XCredentials {
  return SECRET_FIELDS.every((field) => Boolean(credentials[field]));
}

/** Masked stored secrets (last 4 characters at most), or why they cannot be read. */
async function maskedSecrets(context: WebContext, id: number): Promise<Record<string, string>> {
  try {
    const stored = await context.services.accounts.credentialsOf(id);
    return Object.fromEntries(SECRET_FIELDS.map((field) => [field, maskSecret(stored[field])]));
  } catch (error) {
    return Object.fromEntries(SECRET_FIELDS.map((field) => [field, `unreadable: ${errorMessage(error)}`]));
  }
}

/** X accounts: list, add, edit, delete, and the login test. Admins only. */
export function accountRoutes(context: WebContext): express.Router {
  const { services, sessions, sandbox } = context;
  const deps = services.accountSetup;
  const router = express.Router();
  router.use('/accounts', requirePermission('admin'));

  async function loadAccount(idParam: unknown): Promise<Account> {
    const account = await services.accounts.get(positiveId(idParam, 'account id'));
    if (!account) throw new NotFoundError(`Account ${String(idParam)} does not exist.`);
    return account;
  }

  /**
   * The login test for what the form says; the stored keys fill in the blanks of an existing
   * account. A new sandbox account without keys has nothing to test yet: the answer says what
   * saving does (`issuedOnSave`), which is what the page asks for, not a failure.
   */
  async function testLogin(form: AccountForm, account: Account | null): Promise<LoginTestAnswer> {
    const addressProblem = apiBaseUrlProblem(form);
    if (addressProblem) throw new ValidationError(addressProblem, 'apiBaseUrl');
    if (!account && form.environment === 'sandbox' && Object.keys(form.credentials).length === 0 && sandbox) {
      return { issuedOnSave: 'No keys needed: when you save, the sandbox issues a new user for this account, and its screen name and user id appear here.' };
    }
    const environment = storedEnvironment(form);
    const apiBaseUrl = environment === 'custom' ? form.apiBaseUrl : null;
    const unchanged = account && Object.keys(form.credentials).length === 0 && environment === account.environment && apiBaseUrl === account.apiBaseUrl;
    if (account && unchanged) {
      // The stored account as it is: the result is recorded, as `account test` does.
      const tested = await testAccount(deps, account.id);
      return { screenName: tested.screenName ?? '', xUserId: tested.xUserId ?? '' };
    }
    // Stored keys fill the blanks only for the address they were entered for.
    if (account && (environment !== account.environment || apiBaseUrl !== account.apiBaseUrl)) requireAllKeysForNewAddress(form.credentials);
    const credentials = account ? { ...(await services.accounts.credentialsOf(account.id)), ...form.credentials } : form.credentials;
    if (!isComplete(credentials)) {
      throw new UserFacingError('login_incomplete', form.environment === 'sandbox'
        ? 'Leave the four keys blank and save: the sandbox then issues a new user for this account, and its screen name appears here.'
        : 'Enter all four keys to test the login.');
    }
    return runLoginTest(deps.clientFor(credentials, environment, apiBaseUrl));
  }

  /**
   * `keepTyped`: a refused test or save shows the keys typed into this very form again, so
   * nothing needs typing twice; stored keys are never put into the page.
   */
  const renderForm = async (res: express.Response, account: Account | null, form: AccountForm, extra: { errors?: FieldErrors; error?: string | null; tested?: LoginTestAnswer | null; keepTyped?: boolean } = {}) => {
    const typed = extra.keepTyped ? form.credentials : {};
    // A page holding typed keys is not kept by the browser's or a proxy's cache.
    if (Object.keys(typed).length > 0) res.set('Cache-Control', 'no-store');
    const tested = extra.tested && 'screenName' in extra.tested ? extra.tested : null;
    res.render('accounts/form', {
      title: account ? `X account ${account.id}` : 'Add an X account',
      account,
      form,
      masked: account ? await maskedSecrets(context, account.id) : null,
      integrations: account ? await services.integrations.listForAccount(account.id) : [],
      errors: extra.errors ?? {},
      error: extra.error ?? null,
      tested,
      issuedOnSave: extra.tested && 'issuedOnSave' in extra.tested ? extra.tested.issuedOnSave : null,
      typed,
      sandboxAvailable: sandbox !== null,
    });
  };

  router.get('/accounts', async (_req, res) => {
    const accounts = await services.accounts.list();
    const integrations = await services.integrations.list();
    res.render('accounts/list', {
      title: 'X accounts',
      accounts: accounts.map((account) => ({ account, integrations: integrations.filter((integration) => integration.accountId === account.id).length })),
    });
  });

  router.get('/accounts/new', async (_req, res) => {
    await renderForm(res, null, { description: '', environment: sandbox ? 'sandbox' : 'live', apiBaseUrl: '', credentials: {} });
  });

  router.post('/accounts', async (req, res) => {
    const form = readForm(req);
    const errors = checkForm(form, text(req, 'intent') !== 'test');
    if (text(req, 'intent') === 'test') {
      try {
        const tested = await testLogin(form, null);
        return renderForm(res, null, form, { tested });
      } catch (error) {
        if (error instanceof UserFacingError && error.field) return renderForm(res.status(400), null, form, { errors: { ...errors, [error.field]: [error.message] }, keepTyped: true });
        return renderForm(res.status(400), null, form, { errors, error: errorMessage(error), keepTyped: true });
      }
    }
    if (Object.keys(errors).length > 0) return renderForm(res.status(400), null, form, { errors, keepTyped: true });
    try {
      let credentials = form.credentials;
      if (form.environment === 'sandbox' && !isComplete(credentials)) {
        if (!sandbox) throw new UserFacingError('no_sandbox', 'This server does not host a sandbox; choose the live X API.');
        credentials = await provisionSandboxUser(sandbox, form.description);
      }
      const environment = storedEnvironment(form);
      const created = await addAccount(deps, {
        description: form.description, environment, apiBaseUrl: environment === 'custom' ? form.apiBaseUrl : null, credentials: credentials as XCredentials,
      });
      await sessions.flash(req, 'success', `Account ${created.id} added: logged in as @${created.screenName} (user id ${created.xUserId}).`);
      res.redirect(303, `/accounts/${created.id}`);
    } catch (error) {
      if (!(error instanceof UserFacingError)) throw error;
      return renderForm(res.status(400), null, form, { ...(error.field ? { errors: { [error.field]: [error.message] } } : { error: error.message }), keepTyped: true });
    }
  });

  /** For the page script: tests what the form holds without reloading, so typed keys stay in the browser. */
  router.post('/accounts/test-login', async (req, res) => {
    const accountId = text(req, 'accountId');
    const account = accountId ? await loadAccount(accountId) : null;
    try {
      const tested = await testLogin(readForm(req), account);
      res.json('issuedOnSave' in tested ? { ok: true, issuedOnSave: tested.issuedOnSave } : { ok: true, screenName: tested.screenName, xUserId: tested.xUserId });
    } catch (error) {
      if (!(error instanceof UserFacingError)) throw error;
      res.json({ ok: false, error: error.message, ...(error.field ? { field: error.field } : {}) });
    }
  });

  router.get('/accounts/:id', async (req, res) => {
    const account = await loadAccount(req.params.id);
    await renderForm(res, account, formFrom(account));
  });

  router.post('/accounts/:id', async (req, res) => {
    const account = await loadAccount(req.params.id);
    const form = readForm(req);
    if (text(req, 'intent') === 'test') {
      try {
        const tested = await testLogin(form, account);
        return renderForm(res, (await services.accounts.get(account.id)) ?? account, form, { tested });
      } catch (error) {
        if (!(error instanceof UserFacingError)) throw error;
        const current = (await services.accounts.get(account.id)) ?? account;
        return renderForm(res.status(400), current, form, { ...(error.field ? { errors: { [error.field]: [error.message] } } : { error: error.message }), keepTyped: true });
      }
    }
    const errors = checkForm(form, false);
    if (Object.keys(errors).length > 0) return renderForm(res.status(400), account, form, { errors, keepTyped: true });
    try {
      const environment = storedEnvironment(form);
      const updated = await updateAccount(deps, account.id, {
        description: form.description, environment, apiBaseUrl: environment === 'custom' ? form.apiBaseUrl : null, credentials: form.credentials,
      });
      await sessions.flash(req, 'success', `Account ${updated.id} saved.`);
      res.redirect(303, `/accounts/${updated.id}`);
    } catch (error) {
      if (!(error instanceof UserFacingError)) throw error;
      return renderForm(res.status(400), account, form, { ...(error.field ? { errors: { [error.field]: [error.message] } } : { error: error.message }), keepTyped: true });
    }
  });

  router.get('/accounts/:id/delete', async (req, res) => {
    const account = await loadAccount(req.params.id);
    const integrations = await services.integrations.listForAccount(account.id);
    res.render('confirm', {
      title: `Delete X account ${account.id}`,
      question: `Delete the account "${account.description}"${account.screenName ? ` (@${account.screenName})` : ''}?`,
      details: integrations.length
        ? `It is used by integration${integrations.length > 1 ? 's' : ''} ${integrations.map((integration) => integration.id).join(', ')}; remove ${integrations.length > 1 ? 'them' : 'it'} first.`
        : 'Its stored keys are deleted. Tweets already posted stay on X.',
      action: `/accounts/${account.id}/delete`,
      button: 'Delete account',
      disabled: integrations.length > 0,
      cancel: `/accounts/${account.id}`,
    });
  });

  router.post('/accounts/:id/delete', async (req, res) => {
    const account = await loadAccount(req.params.id);
    try {
      await removeAccount({ ...deps, integrations: services.integrations }, account.id);
      await sessions.flash(req, 'success', `Account ${account.id} deleted.`);
      res.redirect(303, '/accounts');
    } catch (error) {
      if (!(error instanceof UserFacingError)) throw error;
      await sessions.flash(req, 'error', error.message);
      res.redirect(303, `/accounts/${account.id}`);
    }
  });

  return router;
}
