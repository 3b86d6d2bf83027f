import cron from 'node-cron';
import type { Knex } from 'knex';
import { installCaptureTrigger, removeCaptureTrigger } from '../db/dialect';
import { checkFieldMapping, RESPONSE_MODES, type ResponseMode } from '../kb/schema';
import { countRecords } from '../kb/records';
import type { Clock } from '../lib/clock';
import { toIso } from '../lib/clock';
import { NotFoundError, ValidationError } from '../lib/errors';
import type { AccountStore } from '../store/accounts';
import { LONG_TEXT_POLICIES, type Integration, type IntegrationStore, type LongTextPolicy } from '../store/integrations';
import type { PublicationStore } from '../store/publications';
import { isValidTimeZone } from '../sync/response-format';

export interface IntegrationSetupDeps {
  db: Knex;
  accounts: AccountStore;
  integrations: IntegrationStore;
  publications: PublicationStore;
  clock: Clock;
}

export interface IntegrationInput {
  accountId: number;
  table: string;
  tweetField: string;
  responseField: string;
  responseMode: string;
  continueField: string;
  schedule?: string;
  timeZone?: string;
  longTextPolicy?: string;
  /** Tweet the records the table already holds too (DESIGN.md rule 7: only when asked for). */
  backfill?: boolean;
}

export const DEFAULT_SCHEDULE = '*/5 * * * *';

export interface IntegrationProblems {
  errors: Array<{ field: string; message: string }>;
  warnings: Array<{ field: string; message: string }>;
  existingRecords: number | null;
}

/** Every check the wizard and `integration add` make, against the live schema. */
export async function checkIntegration(deps: IntegrationSetupDeps, input: IntegrationInput): Promise<IntegrationProblems> {
  const errors: IntegrationProblems['errors'] = [];
  if (!(await deps.accounts.get(input.accountId))) errors.push({ field: 'accountId', message: `account ${input.accountId} does not exist` });
  if (!RESPONSE_MODES.includes(input.responseMode as ResponseMode)) {
    errors.push({ field: 'responseMode', message: `response mode must be one of ${RESPONSE_MODES.join(', ')}, not '${input.responseMode}'` });
  }
  if (input.schedule !== undefined && !cron.validate(input.schedule)) {
    errors.push({ field: 'schedule', message: `'${input.schedule}' is not a cron expression (for example */5 * * * * for every 5 minutes)` });
  }
  if (input.timeZone !== undefined && !isValidTimeZone(input.timeZone)) {
    errors.push({ field: 'timeZone', message: `'${input.timeZone}' is not a time zone (use an IANA name such as UTC or Europe/Berlin)` });
  }
  if (input.longTextPolicy !== undefined && !LONG_TEXT_POLICIES.includes(input.longTextPolicy as LongTextPolicy)) {
    errors.push({ field: 'longTextPolicy', message: `long-text policy must be one of ${LONG_TEXT_POLICIES.join(', ')}, not '${input.longTextPolicy}'` });
  }
  const mapping = await checkFieldMapping(deps.db, input);
  errors.push(...mapping.errors);
  const existingRecords = mapping.table ? await countRecords(deps.db, mapping.table.name) : null;
  const warnings = [...mapping.warnings];
  if (existingRecords) {
    warnings.push({
      field: 'table',
      message: input.backfill
        ? `table '${input.table}' already has ${existingRecords} records; with the backfill all ${existingRecords} will be tweeted`
        : `table '${input.table}' already has ${existingRecords} records; they will not be tweeted`,
    });
  }
  return { errors, warnings, existingRecords };
}

export type IntegrationValidationError = ValidationError & { problems: IntegrationProblems };

function refuse(problems: IntegrationProblems): never {
  const error = new ValidationError(problems.errors.map((problem) => problem.message).join('; '), problems.errors[0].field);
  (error as IntegrationValidationError).problems = problems;
  throw error;
}

/** Validates, stores the integration and installs its capture trigger (and any backfill) in one transaction. */
export async function addIntegration(deps: IntegrationSetupDeps, input: IntegrationInput): Promise<{ integration: Integration; warnings: IntegrationProblems['warnings']; backfilled: number }> {
  const problems = await checkIntegration(deps, input);
  if (problems.errors.length > 0) refuse(problems);
  const table = (await checkFieldMapping(deps.db, input)).table!;
  const now = toIso(deps.clock.now());
  let backfilled = 0;
  const id = await deps.db.transaction(async (trx) => {
    const created = await deps.integrations.with(trx).create({
      accountId: input.accountId,
      tableName: table.name,
      primaryKeyColumn: table.primaryKey[0],
      tweetField: input.tweetField,
      responseField: input.responseField,
      responseMode: input.responseMode as ResponseMode,
      continueField: input.continueField,
      schedule: input.schedule ?? DEFAULT_SCHEDULE,
      timeZone: input.timeZone ?? 'UTC',
      longTextPolicy: (input.longTextPolicy ?? 'reject') as LongTextPolicy,
    }, now);
    await installCaptureTrigger(trx, created, table.name, table.primaryKey[0]);
    if (input.backfill) backfilled = await deps.publications.with(trx).insertPendingForExisting(created, table.name, table.primaryKey[0], now);
    return created;
  });
  return { integration: (await deps.integrations.get(id)) as Integration, warnings: problems.warnings, backfilled };
}

export type IntegrationChanges = Omit<IntegrationInput, 'accountId' | 'table' | 'backfill'>;

/**
 * Changes the fields, mode, schedule, zone or long-text policy after the same checks as adding.
 * Account and table stay: the capture trigger and the records already tweeted belong to them.
 */
export async function updateIntegration(deps: IntegrationSetupDeps, id: number, changes: IntegrationChanges): Promise<{ integration: Integration; warnings: IntegrationProblems['warnings'] }> {
  const current = await getIntegrationOrFail(deps, id);
  const input: IntegrationInput = { ...changes, accountId: current.accountId, table: current.tableName };
  const problems = await checkIntegration(deps, input);
  if (problems.errors.length > 0) refuse(problems);
  await deps.integrations.update(id, {
    tweetField: input.tweetField,
    responseField: input.responseField,
    responseMode: input.responseMode as ResponseMode,
    continueField: input.continueField,
    schedule: input.schedule ?? current.schedule,
    timeZone: input.timeZone ?? current.timeZone,
    longTextPolicy: (input.longTextPolicy ?? current.longTextPolicy) as LongTextPolicy,
  }, toIso(deps.clock.now()));
  // Existing records are only news when the table is new to the integration.
  return { integration: await getIntegrationOrFail(deps, id), warnings: problems.warnings.filter((warning) => warning.field !== 'table') };
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

export async function resumeIntegration(deps: IntegrationSetupDeps, id: number): Promise<Integration> {
  await getIntegrationOrFail(deps, id);
  await deps.integrations.resume(id, toIso(deps.clock.now()));
  return getIntegrationOrFail(deps, id);
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
