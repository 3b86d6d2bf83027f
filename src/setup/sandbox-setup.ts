import { EmulatorInputError, type EmulatorState } from '../emulator/emulator';
import type { Logger } from '../lib/logger';
import { UserFacingError, errorMessage } from '../lib/errors';
import type { AccountStore } from '../store/accounts';
import type { XCredentials } from '../twitter/x-client-factory';

/** A sandbox screen name from the account's description: kb_ and up to 12 more letters, digits or underscores. */
export function sandboxUsername(description: string): string {
  const slug = description.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 12);
  return `kb_${slug || 'sandbox'}`;
}

/** Has the sandbox issue a new user for an account added without keys; a taken name gets a number. */
export function provisionSandboxUser(state: EmulatorState, description: string): XCredentials {
  const base = sandboxUsername(description);
  for (let attempt = 1; attempt < 100; attempt++) {
    const suffix = attempt === 1 ? '' : String(attempt);
    const username = base.slice(0, 15 - suffix.length) + suffix;
    if (state.findUser(username)) continue;
    const created = state.createUser({ username });
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
 * The sandbox lives in the server's memory: at start, every stored sandbox account's user is
 * registered again with its stored keys, so the accounts keep working after a restart (their
 * earlier sandbox tweets are gone). Returns the ids of the accounts restored.
 */
export async function restoreSandboxUsers(deps: { accounts: AccountStore; logger: Logger }, state: EmulatorState): Promise<number[]> {
  const restored: number[] = [];
  for (const account of await deps.accounts.list()) {
    if (account.environment !== 'sandbox') continue;
    try {
      const credentials = await deps.accounts.credentialsOf(account.id);
      const username = account.screenName ?? sandboxUsername(account.description);
      if (state.findUser(username)) continue;
      state.createUser({
        username,
        consumer_key: credentials.apiKey,
        consumer_secret: credentials.apiKeySecret,
        access_token: credentials.accessToken,
        access_token_secret: credentials.accessTokenSecret,
      });
      restored.push(account.id);
    } catch (error) {
      const reason = error instanceof EmulatorInputError ? error.message : errorMessage(error);
      deps.logger.warn('sandbox account could not be restored', { accountId: account.id, reason });
    }
  }
  return restored;
}
