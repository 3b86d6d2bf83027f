import { liftAccountHoldFor } from '../sync/credits-probe';
import type { Knex } from 'knex';
import { installCaptureTrigger, removeCaptureTrigger } from '../db/dialect';
import { checkFieldMapping, type TableInfo } from '../kb/schema';
import { countRecords } from '../kb/records';
import { checkMediaField } from '../media/media-field-check';
import type { Clock } from '../lib/clock';
import { toIso } from '../lib/clock';
import { NotFoundError, UserFacingError, ValidationError } from '../lib/errors';
import type { AccountStore } from '../store/accounts';
import type { CommunicationStore } from '../store/communications';
import { applyRepliesHeldByPause } from '../sync/inbound/resume-catch-up';
import {
  CHANGEABLE_SETTING_KEYS, INTEGRATION_SETTINGS, parseSettings, STORED_SETTING_KEYS,
  type ChangeableSettings, type IntegrationInput, type IntegrationSettings, type SettingKey, type SettingProblem,
} from '../settings/integration-settings';
import type { Integration, IntegrationStore } from '../store/integrations';
import type { PublicationStore } from '../store/publications';

export interface IntegrationSetupDeps {
  db: Knex;
  accounts: AccountStore;
  integrations: IntegrationStore;
  publications: PublicationStore;
  communications: CommunicationStore;
  clock: Clock;
}

export { DEFAULT_SCHEDULE, type IntegrationInput } from '../settings/integration-settings';

export interface IntegrationProblems {
  errors: SettingProblem[];
  warnings: SettingProblem[];
  existingRecords: number | null;
  /** The integration that already tweets this account's table and tweet field, when one does. */
  duplicateOf: number | null;
}

type CheckedIntegration = IntegrationProblems & { settings: IntegrationSettings | null; table: TableInfo | null };

/**
 * Every check the wizard and `integration add` / `update` make: the settings' own rules, then the
 * live schema (account and table exist, the columns exist and suit their use).
 */
async function check(deps: IntegrationSetupDeps, input: IntegrationInput, self: number | null = null): Promise<CheckedIntegration> {
  const { values, errors } = parseSettings(input);
  const failed = new Set(errors.map((problem) => problem.field));
  if (values.accountId !== undefined && !(await deps.accounts.get(values.accountId))) {
    errors.push({ field: 'accountId', message: `account ${values.accountId} does not exist` });
  }
  const mapping = await checkFieldMapping(deps.db, {
    table: values.table ?? '', tweetField: values.tweetField ?? '', responseField: values.responseField ?? '', continueField: values.continueField ?? '',
  });
  // A setting refused by its own rules ("choose a tweet field") is not refused again by the schema check.
  if (!failed.has('table')) errors.push(...mapping.errors.filter((problem) => !failed.has(problem.field)));
  if (mapping.table && !failed.has('mediaField')) errors.push(...checkMediaField(mapping.table, values.mediaField, values));
  let duplicateOf: number | null = null;
  if (mapping.table && values.accountId !== undefined && values.tweetField && !errors.some((problem) => problem.field === 'tweetField' || problem.field === 'accountId')) {
    const [twin] = await deps.integrations.listTweeting(values.accountId, mapping.table.name, values.tweetField, self);
    if (twin) {
      duplicateOf = twin.id;
      errors.push({ field: 'tweetField', message: await duplicateMessage(deps, twin) });
    }
  }
  const existingRecords = mapping.table ? await countRecords(deps.db, mapping.table.name) : null;
  const warnings: SettingProblem[] = [...mapping.warnings];
  if (existingRecords) {
    warnings.push({
      field: 'table',
      message: values.backfill
        ? `table '${values.table}' already has ${existingRecords} records; with the backfill all ${existingRecords} will be tweeted`
        : `table '${values.table}' already has ${existingRecords} records; they will not be tweeted`,
    });
  }
  const settings = errors.length === 0 ? (values as IntegrationSettings) : null;
  return { errors, warnings, existingRecords, duplicateOf, settings, table: mapping.table };
}

/** Why a second integration on the same account, table and tweet field is refused, naming the first. */
async function duplicateMessage(deps: IntegrationSetupDeps, twin: Integration): Promise<string> {
  const account = await deps.accounts.get(twin.accountId);
  const who = account?.screenName ? `@${account.screenName}` : `account ${twin.accountId}`;
  return `integration ${twin.id}${twin.status === 'paused' ? ' (paused)' : ''} already tweets '${twin.tweetField}' of table '${twin.tableName}' from ${who}; `
    + `a second one would tweet each new record again. Change integration ${twin.id} instead, or choose another tweet field`;
}

// The unique index of migration 20261202000200, as each database names it in its refusal.
const DUPLICATE_REFUSAL = /kbts_integrations_one_per_tweet_field|UNIQUE constraint failed: kbts_integrations\.account_id/;

/**
 * Runs a write that the unique index may refuse when another create or update got there first
 * (both passed the check before either wrote); the refusal is then the checked one, in words.
 */
async function refusingTwins<T>(deps: IntegrationSetupDeps, input: IntegrationInput, self: number | null, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (!DUPLICATE_REFUSAL.test(String((error as Error)?.message))) throw error;
    const checked = await check(deps, input, self);
    if (checked.errors.length > 0) refuse(checked);
    throw error;
  }
}

export async function checkIntegration(deps: IntegrationSetupDeps, input: IntegrationInput, self: number | null = null): Promise<IntegrationProblems> {
  const { errors, warnings, existingRecords, duplicateOf } = await check(deps, input, self);
  return { errors, warnings, existingRecords, duplicateOf };
}

export type IntegrationValidationError = ValidationError & { problems: IntegrationProblems };

function refuse(problems: IntegrationProblems): never {
  const error = new ValidationError(problems.errors.map((problem) => problem.message).join('; '), problems.errors[0].field);
  (error as IntegrationValidationError).problems = { errors: problems.errors, warnings: problems.warnings, existingRecords: problems.existingRecords, duplicateOf: problems.duplicateOf };
  throw error;
}

/** Validates, stores the integration and installs its capture trigger (and any backfill) in one transaction. */
export async function addIntegration(deps: IntegrationSetupDeps, input: IntegrationInput): Promise<{ integration: Integration; warnings: IntegrationProblems['warnings']; backfilled: number }> {
  const checked = await check(deps, input);
  if (!checked.settings) refuse(checked);
  const { table: _table, backfill, ...stored } = checked.settings;
  const table = checked.table!;
  const now = toIso(deps.clock.now());
  let backfilled = 0;
  const id = await refusingTwins(deps, input, null, () => deps.db.transaction(async (trx) => {
    const created = await deps.integrations.with(trx).create({ ...stored, tableName: table.name, primaryKeyColumn: table.primaryKey[0] }, now);
    await installCaptureTrigger(trx, created, table.name, table.primaryKey[0]);
    if (backfill) backfilled = await deps.publications.with(trx).insertPendingForExisting(created, table.name, table.primaryKey[0], now);
    return created;
  }));
  return { integration: (await deps.integrations.get(id)) as Integration, warnings: checked.warnings, backfilled };
}

/** What `updateIntegration` may be given: any changeable setting; the others keep their values. */
export type IntegrationChanges = Pick<IntegrationInput, keyof ChangeableSettings>;

/**
 * Changes the fields, mode, schedule, zone or long-text policy after the same checks as adding.
 * Account and table stay: the capture trigger and the records already tweeted belong to them.
 */
export async function updateIntegration(deps: IntegrationSetupDeps, id: number, changes: IntegrationChanges): Promise<{ integration: Integration; warnings: IntegrationProblems['warnings'] }> {
  const current = await getIntegrationOrFail(deps, id);
  const fixed = (Object.keys(changes) as SettingKey[]).filter((key) => changes[key as keyof IntegrationChanges] !== undefined && !CHANGEABLE_SETTING_KEYS.includes(key as keyof ChangeableSettings));
  if (fixed.includes('backfill')) throw new ValidationError('a backfill is chosen when an integration is added, not later', 'backfill');
  if (fixed.length > 0) {
    throw new ValidationError(`the ${fixed.map((key) => INTEGRATION_SETTINGS[key].label).join(' and ')} of an integration cannot change (its capture trigger belongs to them); remove the integration and add it again`, fixed[0]);
  }
  const given = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined));
  const input: IntegrationInput = { ...storedInput(current), ...given, table: current.tableName };
  const checked = await check(deps, input, id);
  if (!checked.settings) refuse(checked);
  const settings = checked.settings;
  await refusingTwins(deps, input, id, () => deps.integrations.update(id, Object.fromEntries(CHANGEABLE_SETTING_KEYS.map((key) => [key, settings[key]])) as ChangeableSettings, toIso(deps.clock.now())));
  // Existing records are only news when the table is new to the integration.
  return { integration: await getIntegrationOrFail(deps, id), warnings: checked.warnings.filter((warning) => warning.field !== 'table') };
}

/** An integration's current settings as input, the starting point of an update or of the edit form. */
export function storedInput(integration: Integration): IntegrationInput {
  return { ...Object.fromEntries(STORED_SETTING_KEYS.map((key) => [key, integration[key]])), table: integration.tableName } as IntegrationInput;
}

export async function getIntegrationOrFail(deps: IntegrationSetupDeps, id: number): Promise<Integration> {
  const integration = await deps.integrations.get(id);
  if (!integration) throw new NotFoundError(`integration ${id} does not exist`);
  return integration;
}

export async function pauseIntegration(deps: IntegrationSetupDeps, id: number, reason = 'paused by an admin'): Promise<Integration> {
  await getIntegrationOrFail(deps, id);
  await deps.integrations.pause(id, reason, toIso(deps.clock.now()));
  return getIntegrationOrFail(deps, id);
}

/**
 * Active again; the replies that came in while it was paused (logged, held) are written into
 * their records now, where the continue field allows, so none waits unseen in the log.
 */
export async function resumeIntegration(deps: IntegrationSetupDeps, id: number): Promise<Integration> {
  const paused = await getIntegrationOrFail(deps, id);
  if (paused.duplicateOf !== null) {
    // The unmarked one of its group is the twin; marked ones wait, like this one, for a decision.
    const twin = (await deps.integrations.listTweeting(paused.accountId, paused.tableName, paused.tweetField, id)).find((other) => other.duplicateOf === null);
    if (twin) {
      throw new UserFacingError('refused', `integration ${id} is not resumed: ${await duplicateMessage(deps, twin)}. Remove integration ${id}, or give it another tweet field first`, { status: 409 });
    }
  }
  await deps.integrations.resume(id, toIso(deps.clock.now()));
  const resumed = await getIntegrationOrFail(deps, id);
  await applyRepliesHeldByPause(deps, resumed);
  // Credits used up or a budget reached held the whole account: its other integrations resume too.
  for (const otherId of await liftAccountHoldFor(deps, paused)) await resumeIntegration(deps, otherId);
  return resumed;
}

export interface RetryOutcome {
  integrationId: number;
  /** The records put back to pending: the next run plans and posts them afresh. */
  retried: string[];
}

/**
 * A failed or skipped record back to pending, or all of an integration's: the next run
 * re-evaluates it against the record's current text, continue field and the integration's
 * current policy. A record with anything on X is never touched: a record is tweeted at most once.
 */
export async function retryRecords(
  deps: IntegrationSetupDeps, id: number, recordKey: string | null = null, states: Array<'failed' | 'skipped'> = ['failed', 'skipped'],
): Promise<RetryOutcome> {
  await getIntegrationOrFail(deps, id);
  if (recordKey !== null) {
    const publication = await deps.publications.findByRecord(id, recordKey);
    if (!publication) {
      throw new NotFoundError(`integration ${id} has no record '${recordKey}' to retry (records older than the integration are not tweeted)`);
    }
    if (publication.state === 'sent' || publication.tweetId) {
      throw new UserFacingError('refused', `record '${recordKey}' was already tweeted${publication.tweetId ? ` (tweet ${publication.tweetId})` : ''}: a record is tweeted at most once, so it is not retried`, { status: 409 });
    }
    if (publication.state === 'sending') {
      throw new UserFacingError('refused', `record '${recordKey}' is being tweeted now; its outcome is checked at the next run, and a record is tweeted at most once`, { status: 409 });
    }
  }
  const retried = await deps.publications.retry(id, recordKey, toIso(deps.clock.now()), states);
  if (recordKey !== null && retried.length === 0) {
    const publication = await deps.publications.findByRecord(id, recordKey);
    if (publication?.state !== 'pending') {
      throw new UserFacingError('refused', `record '${recordKey}' has a part already on X: a record is tweeted at most once, so it is not retried`, { status: 409 });
    }
  }
  return { integrationId: id, retried };
}

/** Removes the trigger, the integration and its publication states; the communications log stays. */
export async function removeIntegration(deps: IntegrationSetupDeps, id: number): Promise<void> {
  const integration = await getIntegrationOrFail(deps, id);
  await deps.db.transaction(async (trx) => {
    await removeCaptureTrigger(trx, integration.id, integration.tableName);
    await deps.publications.with(trx).removeForIntegration(integration.id);
    await deps.integrations.with(trx).remove(integration.id);
  });
}
