import { z } from 'zod';
import type { Clock } from '../lib/clock';
import { toIso } from '../lib/clock';
import { NotFoundError, UserFacingError, ValidationError } from '../lib/errors';
import { accountDescription, apiBaseUrl } from '../settings/account-settings';
import type { Account, AccountEnvironment, AccountStore } from '../store/accounts';
import type { IntegrationStore } from '../store/integrations';
import { XApiError } from '../twitter/errors';
import type { XClient } from '../twitter/x-client';
import type { XCredentials } from '../twitter/x-client-factory';

export interface AccountSetupDeps {
  accounts: AccountStore;
  clock: Clock;
  /** A client for credentials that are not stored yet (the login test runs before saving). */
  clientFor(credentials: XCredentials, environment: AccountEnvironment, apiBaseUrl: string | null): XClient;
}

export interface NewAccount {
  description: string;
  environment: AccountEnvironment;
  apiBaseUrl: string | null;
  credentials: XCredentials;
}

/** Checks a value against one of the account settings' rules; a refusal names its field. */
function checked<T>(schema: z.ZodType<T>, value: unknown, field: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new ValidationError(result.error.issues[0].message, field);
  return result.data;
}

export function validateApiBaseUrl(value: string): string {
  return checked(apiBaseUrl, value, 'apiBaseUrl');
}

/** Calls GET /2/users/me; a failure becomes a sentence about what to fix. */
export async function runLoginTest(client: XClient): Promise<{ screenName: string; xUserId: string }> {
  try {
    const me = await client.me();
    return { screenName: me.username, xUserId: me.id };
  } catch (error) {
    const reason = error instanceof XApiError ? error.message : String(error);
    // No answer from X (a network failure, a wrong address): say which address was tried.
    const tried = error instanceof XApiError && error.status !== null ? '' : ` (tried ${client.address})`;
    throw new UserFacingError('login_failed', `login test failed: ${reason}${tried}`, { status: 400 });
  }
}

/** Runs the login test first: an account that cannot log in is never stored. */
export async function addAccount(deps: AccountSetupDeps, input: NewAccount): Promise<Account> {
  const description = checked(accountDescription, input.description, 'description');
  const apiBaseUrl = input.apiBaseUrl ? validateApiBaseUrl(input.apiBaseUrl) : null;
  const identity = await runLoginTest(deps.clientFor(input.credentials, input.environment, apiBaseUrl));
  const now = toIso(deps.clock.now());
  const id = await deps.accounts.create({ ...input, description, apiBaseUrl }, now);
  await deps.accounts.recordLoginTest(id, identity, now);
  return (await deps.accounts.get(id)) as Account;
}

export async function testAccount(deps: AccountSetupDeps, id: number): Promise<Account> {
  const account = await deps.accounts.get(id);
  if (!account) throw new NotFoundError(`account ${id} does not exist`);
  const credentials = await deps.accounts.credentialsOf(id);
  const now = toIso(deps.clock.now());
  try {
    const identity = await runLoginTest(deps.clientFor(credentials, account.environment, account.apiBaseUrl));
    await deps.accounts.recordLoginTest(id, identity, now);
  } catch (error) {
    await deps.accounts.recordLoginTest(id, { error: (error as Error).message }, now);
    throw error;
  }
  return (await deps.accounts.get(id)) as Account;
}

export interface AccountChanges {
  description: string;
  environment: AccountEnvironment;
  apiBaseUrl: string | null;
  /** Blank ones keep what is stored. */
  credentials: Partial<XCredentials>;
}

/**
 * Saves new details; when the credentials or the server change, the login test runs first with
 * what the account would become, and a failing test saves nothing (as for a new account).
 */
const KEY_FIELDS = ['apiKey', 'apiKeySecret', 'accessToken', 'accessTokenSecret'] as const;

/** Changing where an account's requests go needs its four keys again: the stored ones stay with the old address. */
export function requireAllKeysForNewAddress(given: Partial<XCredentials>): asserts given is XCredentials {
  const missing = KEY_FIELDS.find((field) => !given[field]);
  if (missing) {
    throw new ValidationError('the account\'s address (environment or API base URL) changed: enter all four keys again; the stored keys are never sent to a new address', missing);
  }
}

export async function updateAccount(deps: AccountSetupDeps, id: number, changes: AccountChanges): Promise<Account> {
  const account = await deps.accounts.get(id);
  if (!account) throw new NotFoundError(`account ${id} does not exist`);
  const description = checked(accountDescription, changes.description, 'description');
  const apiBaseUrl = changes.apiBaseUrl ? validateApiBaseUrl(changes.apiBaseUrl) : null;
  const newSecrets = Object.fromEntries(Object.entries(changes.credentials).filter(([, value]) => Boolean(value))) as Partial<XCredentials>;
  const connectionChanged = Object.keys(newSecrets).length > 0 || changes.environment !== account.environment || apiBaseUrl !== account.apiBaseUrl;
  // The stored keys are never sent to an address they were not entered for.
  const addressChanged = changes.environment !== account.environment || apiBaseUrl !== account.apiBaseUrl;
  if (addressChanged) requireAllKeysForNewAddress(newSecrets);
  const now = toIso(deps.clock.now());
  let identity: { screenName: string; xUserId: string } | null = null;
  if (connectionChanged) {
    const credentials = { ...(await deps.accounts.credentialsOf(id)), ...newSecrets };
    identity = await runLoginTest(deps.clientFor(credentials, changes.environment, apiBaseUrl));
  }
  await deps.accounts.updateDetails(id, { description, environment: changes.environment, apiBaseUrl }, now);
  if (Object.keys(newSecrets).length > 0) await deps.accounts.updateCredentials(id, newSecrets, now);
  if (identity) await deps.accounts.recordLoginTest(id, identity, now);
  return (await deps.accounts.get(id)) as Account;
}

/** An account still used by integrations stays: removing it would orphan their records' conversations. */
export async function removeAccount(deps: AccountSetupDeps & { integrations: IntegrationStore }, id: number): Promise<void> {
  const account = await deps.accounts.get(id);
  if (!account) throw new NotFoundError(`account ${id} does not exist`);
  const users = await deps.integrations.listForAccount(id);
  if (users.length > 0) {
    throw new UserFacingError('account_in_use', `account ${id} is used by integration${users.length > 1 ? 's' : ''} ${users.map((integration) => integration.id).join(', ')}; remove ${users.length > 1 ? 'them' : 'it'} first`, { status: 409 });
  }
  await deps.accounts.remove(id);
}
