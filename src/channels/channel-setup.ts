import type { Knex } from 'knex';
import { checkFieldMapping, describeTable, RESPONSE_MODES, type ResponseMode, type TableInfo } from '../kb/schema';
import type { Clock } from '../lib/clock';
import { toIso } from '../lib/clock';
import { NotFoundError, ValidationError } from '../lib/errors';
import type { AccountStore } from '../store/accounts';
import { CHANNEL_KINDS, ChannelStore, type Channel, type ChannelKind, type ChannelMapping } from '../store/channels';
import type { IntegrationStore } from '../store/integrations';
import { XUsageStore } from '../store/x-usage';

export interface ChannelSetupDeps {
  db: Knex;
  accounts: AccountStore;
  integrations: IntegrationStore;
  clock: Clock;
}

/** What the wizard and `channel add` are given, as typed. */
export interface ChannelInput {
  accountId?: unknown;
  kind?: unknown;
  table?: unknown;
  textField?: unknown;
  authorField?: unknown;
  linkField?: unknown;
  tagField?: unknown;
  responseField?: unknown;
  mode?: unknown;
  continueField?: unknown;
}

export type ChannelField = keyof ChannelInput;

export interface ChannelProblem {
  field: ChannelField;
  message: string;
}

export interface ChannelCheck {
  errors: ChannelProblem[];
  warnings: ChannelProblem[];
  mapping: ChannelMapping | null;
}

const LABELS: Record<ChannelField, string> = {
  accountId: 'account', kind: 'kind', table: 'table', textField: 'text field', authorField: 'author field', linkField: 'X link field',
  tagField: 'tag field', responseField: 'response field', mode: 'response mode', continueField: 'Yes/No field',
};

function str(value: unknown): string {
  return typeof value === 'string' ? value.trim() : value === undefined || value === null ? '' : String(value).trim();
}

// The integration's checks speak of a tweet field and a continue field; a channel's are its text and Yes/No fields.
function asChannelWords(message: string): string {
  return message.replace(/tweet field/g, 'text field').replace(/continue field/g, 'Yes/No field')
    .replace(/so records created without a value are tweeted automatically/, 'so a record created without a value counts as open');
}

/**
 * Every check the channel wizard and `channel add` make, against the live schema: the
 * integration's field-mapping checks (src/kb/schema.ts) for the text, response and Yes/No
 * fields, then the channel's own fields (author, X link, tag).
 */
export async function checkChannel(deps: ChannelSetupDeps, input: ChannelInput): Promise<ChannelCheck> {
  const errors: ChannelProblem[] = [];
  const warnings: ChannelProblem[] = [];
  const accountId = Number(str(input.accountId));
  if (!Number.isSafeInteger(accountId) || accountId <= 0) errors.push({ field: 'accountId', message: `choose an account (a positive whole number, not '${str(input.accountId)}')` });
  else if (!(await deps.accounts.get(accountId))) errors.push({ field: 'accountId', message: `account ${accountId} does not exist` });
  const kind = str(input.kind) as ChannelKind;
  if (!CHANNEL_KINDS.includes(kind)) errors.push({ field: 'kind', message: `the kind is mentions or dms, not '${str(input.kind)}'` });
  else if (errors.length === 0) {
    const existing = await new ChannelStore(deps.db).findForAccount(accountId, kind);
    if (existing) errors.push({ field: 'kind', message: `account ${accountId} already has a ${kind} channel (channel ${existing.id}); remove it first to map it onto another table` });
  }
  const mode = str(input.mode) as ResponseMode;
  if (!RESPONSE_MODES.includes(mode)) errors.push({ field: 'mode', message: `the response mode is one of ${RESPONSE_MODES.join(', ')}, not '${str(input.mode)}'` });

  const tableName = str(input.table);
  const fields = {
    textField: str(input.textField), authorField: str(input.authorField), linkField: str(input.linkField),
    tagField: str(input.tagField), responseField: str(input.responseField), continueField: str(input.continueField),
  };
  let table: TableInfo | null = null;
  if (!tableName) errors.push({ field: 'table', message: 'choose a table' });
  else {
    const mapping = await checkFieldMapping(deps.db, { table: tableName, tweetField: fields.textField, responseField: fields.responseField, continueField: fields.continueField });
    const fieldOf = (field: string): ChannelField => (field === 'tweetField' ? 'textField' : field as ChannelField);
    errors.push(...mapping.errors.map((problem) => ({ field: fieldOf(problem.field), message: asChannelWords(problem.message) })));
    warnings.push(...mapping.warnings.map((problem) => ({ field: fieldOf(problem.field), message: asChannelWords(problem.message) })));
    table = mapping.table;
  }
  if (table) {
    errors.push(...channelFieldProblems(table, fields));
    const text = table.columns.find((column) => column.name === fields.textField);
    if (text && !text.isText) errors.push({ field: 'textField', message: `the text field '${text.name}' is of type ${text.type || 'unknown'}; a mention or a message is text, so choose a text column` });
    const tweeting = (await deps.integrations.list()).find((integration) => integration.tableName === table!.name);
    if (tweeting) {
      errors.push({ field: 'table', message: `table '${table.name}' is tweeted by integration ${tweeting.id}: every record a channel creates there would be tweeted; choose a table no integration tweets` });
    }
  }
  const mapping: ChannelMapping | null = errors.length > 0 || !table ? null : {
    accountId, kind, tableName: table.name, primaryKeyColumn: table.primaryKey[0], textField: fields.textField, authorField: fields.authorField,
    linkField: fields.linkField, tagField: fields.tagField || null, responseField: fields.responseField, responseMode: mode, continueField: fields.continueField,
  };
  return { errors, warnings, mapping };
}

/**
 * The author, X link and tag fields: each a text column of the table that is not its primary key,
 * and no column chosen twice. Also what a running channel checks before it writes.
 */
const FIELD_ORDER = ['textField', 'responseField', 'continueField', 'authorField', 'linkField', 'tagField'] as const;

export function channelFieldProblems(table: TableInfo, fields: Record<'textField' | 'authorField' | 'linkField' | 'tagField' | 'responseField' | 'continueField', string>): ChannelProblem[] {
  const problems: ChannelProblem[] = [];
  for (const key of ['authorField', 'linkField', 'tagField'] as const) {
    const name = fields[key];
    if (!name) {
      if (key !== 'tagField') problems.push({ field: key, message: `choose an ${LABELS[key]}` });
      continue;
    }
    const column = table.columns.find((candidate) => candidate.name === name);
    if (!column) problems.push({ field: key, message: `column '${name}' does not exist in table '${table.name}'` });
    else if (table.primaryKey.includes(name)) problems.push({ field: key, message: `the ${LABELS[key]} '${name}' is the primary key; choose another column` });
    else if (!column.isText) problems.push({ field: key, message: `the ${LABELS[key]} '${name}' is of type ${column.type || 'unknown'}; it holds text, so choose a text column` });
    // The text, response and Yes/No fields were compared by the integration's checks; these are compared with every field before them.
    for (const other of FIELD_ORDER.slice(0, FIELD_ORDER.indexOf(key))) {
      if (fields[other] === name) problems.push({ field: key, message: `the ${LABELS[key]} and the ${LABELS[other]} are the same column '${name}'; choose a different column for each` });
    }
  }
  return problems;
}

export type ChannelValidationError = ValidationError & { problems: ChannelCheck };

function refuse(checked: ChannelCheck): never {
  const error = new ValidationError(checked.errors.map((problem) => `${LABELS[problem.field]}: ${problem.message}`).join('; '), checked.errors[0].field);
  (error as ChannelValidationError).problems = checked;
  throw error;
}

/** Adds the channel (on at once; reading starts now: nothing older becomes a record). */
export async function addChannel(deps: ChannelSetupDeps, input: ChannelInput): Promise<{ channel: Channel; warnings: ChannelProblem[] }> {
  const checked = await checkChannel(deps, input);
  if (!checked.mapping) refuse(checked);
  const store = new ChannelStore(deps.db);
  const id = await store.create(checked.mapping, toIso(deps.clock.now()));
  return { channel: (await store.get(id)) as Channel, warnings: checked.warnings };
}

export async function getChannelOrFail(deps: Pick<ChannelSetupDeps, 'db'>, id: number): Promise<Channel> {
  const channel = await new ChannelStore(deps.db).get(id);
  if (!channel) throw new NotFoundError(`channel ${id} does not exist`);
  return channel;
}

export async function pauseChannel(deps: ChannelSetupDeps, id: number, reason = 'paused by an admin'): Promise<Channel> {
  await getChannelOrFail(deps, id);
  await new ChannelStore(deps.db).pause(id, reason, toIso(deps.clock.now()));
  return getChannelOrFail(deps, id);
}

/** Active again, after the live schema is checked once more; what came in while paused is placed at the next read. */
export async function resumeChannel(deps: ChannelSetupDeps, id: number): Promise<Channel> {
  const channel = await getChannelOrFail(deps, id);
  const broken = await channelSchemaProblem(deps.db, channel);
  if (broken) throw new ValidationError(`channel ${id} is not resumed: ${broken}`, 'table');
  await new ChannelStore(deps.db).resume(id, toIso(deps.clock.now()));
  return getChannelOrFail(deps, id);
}

export async function removeChannel(deps: ChannelSetupDeps, id: number): Promise<void> {
  await getChannelOrFail(deps, id);
  await deps.db.transaction((trx) => new ChannelStore(trx).remove(id));
}

/** Why the channel's table can no longer take its records (dropped, a field renamed), or null. */
export async function channelSchemaProblem(db: Knex, channel: Channel): Promise<string | null> {
  const table = await describeTable(db, channel.tableName);
  if (!table) return `table '${channel.tableName}' no longer exists in the knowledgebase`;
  const fields = {
    textField: channel.textField, authorField: channel.authorField, linkField: channel.linkField, tagField: channel.tagField ?? '',
    responseField: channel.responseField, continueField: channel.continueField,
  };
  for (const [key, name] of Object.entries(fields)) {
    if (name && !table.columns.some((column) => column.name === name)) {
      return `the ${LABELS[key as ChannelField]} '${name}' no longer exists in table '${channel.tableName}'`;
    }
  }
  return null;
}

/**
 * Channels as `channel list --json` and the channels page show them, each with its account's
 * hold (X credits used up, the budget reached): a held account's channels wait with its work.
 */
export async function channelSummaries(db: Knex, channels: Channel[]): Promise<Array<Record<string, unknown>>> {
  const holds = new Map((await new XUsageStore(db).listSpending()).map((spending) => [spending.accountId, spending.hold?.reason ?? null]));
  return channels.map((channel) => ({ ...channelSummary(channel), account_hold: holds.get(channel.accountId) ?? null }));
}

/** A channel as `channel list --json` and the channels page show it. */
export function channelSummary(channel: Channel): Record<string, unknown> {
  return {
    id: channel.id, account_id: channel.accountId, kind: channel.kind, table: channel.tableName, text_field: channel.textField,
    author_field: channel.authorField, link_field: channel.linkField, tag_field: channel.tagField, response_field: channel.responseField,
    mode: channel.responseMode, continue_field: channel.continueField, status: channel.status, paused_reason: channel.pausedReason,
    last_error: channel.lastError, started_at: channel.startedAt,
  };
}
