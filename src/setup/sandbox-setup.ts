import type { Knex } from 'knex';
import { EmulatorInputError, EmulatorState } from '../emulator/emulator';
import type { Logger } from '../lib/logger';
import { UserFacingError, errorMessage } from '../lib/errors';
import type { AccountStore } from '../store/accounts';
import { SandboxStore } from '../store/sandbox';
import type { XCredentials } from '../twitter/x-client-factory';

/** A sandbox screen name from the account's description: kb_ and up to 12 more letters, digits or underscores. */
export function sandboxUsername(description: string): string {
  const slug = description.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 12);
  return `kb_${slug || 'sandbox'}`;
}

/**
 * Has the sandbox issue a new user for an account added without keys; a taken name gets a number.
 * Resolves once the kept sandbox has stored the user.
 */
export async function provisionSandboxUser(state: EmulatorState, description: string): Promise<XCredentials> {
  const base = sandboxUsername(description);
  for (let attempt = 1; attempt < 100; attempt++) {
    const suffix = attempt === 1 ? '' : String(attempt);
    const username = base.slice(0, 15 - suffix.length) + suffix;
    if (state.findUser(username)) continue;
    const created = state.createUser({ username });
    await state.changesStored();
    return {
      apiKey: created.credentials.api_key,
      apiKeySecret: created.credentials.api_key_secret,
      accessToken: created.credentials.access_token,
      accessTokenSecret: created.credentials.access_token_secret,
    };
  }
  throw new UserFacingError('sandbox_full', `the sandbox has no free name like @${base}; give the account another description`);
}

/**
 * The server's sandbox at start: its users and tweets come back from the database (SandboxStore),
 * and from then on every change is written through before the call is answered.
 */
export async function openKeptSandbox(deps: { db: Knex; accounts: AccountStore; logger: Logger }): Promise<{ sandbox: EmulatorState; recreatedAccountIds: number[] }> {
  const sandbox = new EmulatorState();
  const keeper = new SandboxStore(deps.db, deps.logger);
  sandbox.restore(await keeper.load());
  sandbox.keepChangesWith(keeper);
  const recreatedAccountIds = await restoreSandboxUsers(deps, sandbox);
  await sandbox.changesStored();
  return { sandbox, recreatedAccountIds };
}

/**
 * The sandbox keeps no keys of its own: each stored sandbox account's keys (sealed in
 * kbts_accounts) are given back to its user, found by the account's user id or screen name. An
 * account whose user the sandbox does not know (stored before the sandbox was kept, or its rows
 * lost) gets its user again, with the user id the account recorded (a new one if it has none);
 * those accounts' ids are returned, for a login test that records the result.
 */
export async function restoreSandboxUsers(deps: { accounts: AccountStore; logger: Logger }, state: EmulatorState): Promise<number[]> {
  const restored: number[] = [];
  for (const account of await deps.accounts.list()) {
    if (account.environment !== 'sandbox') continue;
    try {
      const credentials = await deps.accounts.credentialsOf(account.id);
      const keys = {
        api_key: credentials.apiKey,
        api_key_secret: credentials.apiKeySecret,
        access_token: credentials.accessToken,
        access_token_secret: credentials.accessTokenSecret,
      };
      const username = account.screenName ?? sandboxUsername(account.description);
      const known = (account.xUserId ? state.getUser(account.xUserId) : undefined) ?? state.findUser(username);
      if (known) {
        // Two accounts on one sandbox user share its keys: the first one gave them back already.
        if (!known.credentials) state.attachCredentials(known.id, keys);
        continue;
      }
      if (account.xUserId && !state.getUser(account.xUserId)) {
        // The account knows its user's id (from a sandbox before this one was kept): the same id again.
        state.addKnownUser({ id: account.xUserId, username, name: username, description: '', createdAtMs: state.now(), revoked: false, access: 'read-write' });
        state.attachCredentials(account.xUserId, keys);
      } else {
        state.createUser({
          username,
          consumer_key: keys.api_key,
          consumer_secret: keys.api_key_secret,
          access_token: keys.access_token,
          access_token_secret: keys.access_token_secret,
        });
      }
      restored.push(account.id);
    } catch (error) {
      const reason = error instanceof EmulatorInputError ? error.message : errorMessage(error);
      deps.logger.warn('sandbox account could not be restored', { accountId: account.id, reason });
    }
  }
  return restored;
}
