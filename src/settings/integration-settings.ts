import { IANAZone } from 'luxon';
import cron from 'node-cron';
import { z } from 'zod';
import { RESPONSE_MODES } from '../kb/schema';
import { MEDIA_FIELD_RULES } from '../media/media-kinds';

/**
 * Every setting of an integration, described once. The command line's options, the wizard's and
 * `integration update`'s checks, and the stored row are all derived from this list, so a new
 * setting needs an entry here, a migration for its column and the view that shows it.
 * Checks against the live schema (table and columns exist, types) stay in setup/.
 */

export const LONG_TEXT_POLICIES = ['reject', 'truncate', 'thread', 'long'] as const;
export type LongTextPolicy = (typeof LONG_TEXT_POLICIES)[number];

export const DEFAULT_SCHEDULE = '*/5 * * * *';
export const DEFAULT_TIME_ZONE = 'UTC';

export interface SettingSpec<S extends z.ZodType = z.ZodType> {
  /** The value's rules; its messages are shown to people beside the field, so they are in words. */
  schema: S;
  /** How messages name it. */
  label: string;
  /** `integration add` / `update` option, as commander spells it; a flag without <arg> is a boolean. */
  option: string;
  optionHelp: string;
  /** Must `integration add` be given it (a setting with a default never is)? */
  required: boolean;
  /** The key in `integration list --json`. */
  json: string;
  /** The kbts_integrations column; none for settings setup turns into other columns (table) or acts on once (backfill). */
  column?: string;
  /** Can `integration update` and the wizard's edit page change it? Account and table carry the trigger, so they stay. */
  changeable: boolean;
}

const quoted = (value: unknown) => `'${typeof value === 'string' ? value : JSON.stringify(value)}'`;

/** A column name: required, so an empty choice says which one is missing. */
function column(label: string) {
  const missing = `choose a ${label}`;
  return z.string({ error: missing }).trim().min(1, { error: missing });
}

function oneOf<const T extends readonly [string, ...string[]]>(values: T, label: string) {
  return z.enum(values, { error: (issue) => `${label} must be one of ${values.join(', ')}, not ${quoted(issue.input)}` });
}

const accountId = z.preprocess(
  // Only digits become a number, so a refusal quotes what was typed.
  (value) => (typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value),
  z.number({ error: (issue) => (issue.input === undefined || issue.input === '' ? 'choose the X account to tweet from' : `account id must be a positive whole number, not ${quoted(issue.input)}`) })
    .int({ error: (issue) => `account id must be a positive whole number, not ${quoted(issue.input)}` })
    .positive({ error: (issue) => `account id must be a positive whole number, not ${quoted(issue.input)}` }),
);

const cronExpression = z.string({ error: 'give the schedule as a cron expression' }).trim()
  .max(100, { error: 'a cron expression of more than 100 characters is not kept; write it shorter' })
  .refine((value) => cron.validate(value), { error: (issue) => `${quoted(issue.input)} is not a cron expression (for example */5 * * * * for every 5 minutes)` });

// The zone names the scheduler (node-cron, through Intl) and the reply stamps (luxon) both accept.
const timeZone = z.string({ error: 'give a time zone such as UTC or Europe/Berlin' }).trim()
  .refine((value) => IANAZone.isValidZone(value), { error: (issue) => `${quoted(issue.input)} is not a time zone (use an IANA name such as UTC or Europe/Berlin)` });

// Hours without a reply before the alert; blank or "off" turns it off. At most a year.
const alertHours = z.preprocess(
  (value) => (value === undefined || value === null || (typeof value === 'string' && /^\s*(off)?\s*$/i.test(value)) ? null
    : typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value),
  z.number({ error: (issue) => `the no-replies alert must be a whole number of hours from 1 to 8760, or off, not ${quoted(issue.input)}` })
    .int({ error: (issue) => `the no-replies alert must be a whole number of hours from 1 to 8760, or off, not ${quoted(issue.input)}` })
    .min(1, { error: (issue) => `the no-replies alert must be a whole number of hours from 1 to 8760, or off, not ${quoted(issue.input)}` })
    .max(8760, { error: (issue) => `the no-replies alert must be a whole number of hours from 1 to 8760, or off, not ${quoted(issue.input)}` })
    .nullable(),
);

// A column that may be left out: blank, or "none" to remove it on update.
const optionalColumn = z.preprocess(
  (value) => (value === undefined || value === null || (typeof value === 'string' && /^\s*(none)?\s*$/i.test(value)) ? null : value),
  z.string({ error: 'give the media field as a column name' }).trim().max(200, { error: 'a column name of more than 200 characters is not a column' }).nullable(),
);

function setting<S extends z.ZodType>(spec: SettingSpec<S>): SettingSpec<S> {
  return spec;
}

export const INTEGRATION_SETTINGS = {
  accountId: setting({
    label: 'account', schema: accountId, option: '--account <id>', optionHelp: 'account id', required: true, json: 'account_id', column: 'account_id', changeable: false,
  }),
  table: setting({
    label: 'table', schema: z.string({ error: 'choose a table' }).trim().min(1, { error: 'choose a table' }),
    option: '--table <name>', optionHelp: 'KB table', required: true, json: 'table', changeable: false,
  }),
  tweetField: setting({
    label: 'tweet field', schema: column('tweet field'), option: '--tweet-field <column>', optionHelp: 'column whose text is tweeted',
    required: true, json: 'tweet_field', column: 'tweet_field', changeable: true,
  }),
  responseField: setting({
    label: 'response field', schema: column('response field'), option: '--response-field <column>', optionHelp: 'column the replies are written into',
    required: true, json: 'response_field', column: 'response_field', changeable: true,
  }),
  responseMode: setting({
    label: 'response mode', schema: oneOf(RESPONSE_MODES, 'response mode'), option: '--mode <mode>', optionHelp: RESPONSE_MODES.join(', ').replace(/, (?=[^,]*$)/, ' or '),
    required: true, json: 'mode', column: 'response_mode', changeable: true,
  }),
  continueField: setting({
    label: 'continue field', schema: column('continue field'), option: '--continue-field <column>', optionHelp: 'Yes/No column: replies are written while it says Yes (or is blank)',
    required: true, json: 'continue_field', column: 'continue_field', changeable: true,
  }),
  schedule: setting({
    label: 'schedule', schema: cronExpression.default(DEFAULT_SCHEDULE), option: '--every <cron>', optionHelp: 'polling frequency as a cron expression',
    required: false, json: 'every', column: 'schedule', changeable: true,
  }),
  timeZone: setting({
    label: 'time zone', schema: timeZone.default(DEFAULT_TIME_ZONE), option: '--timezone <zone>', optionHelp: 'time zone of the reply stamps and the schedule',
    required: false, json: 'timezone', column: 'time_zone', changeable: true,
  }),
  longTextPolicy: setting({
    label: 'long-text policy', schema: oneOf(LONG_TEXT_POLICIES, 'long-text policy').default('reject'), option: '--long-text <policy>',
    optionHelp: 'reject, truncate, thread, or long (one long post, for accounts X allows long posts: X Premium)', required: false, json: 'long_text', column: 'long_text_policy', changeable: true,
  }),
  alertNoRepliesHours: setting({
    label: 'no-replies alert', schema: alertHours, option: '--alert-no-replies-hours <hours>',
    optionHelp: 'alert the admins when no reply arrived for this many hours (off unless given; "off" turns it off)',
    required: false, json: 'alert_no_replies_hours', column: 'alert_no_replies_hours', changeable: true,
  }),
  mediaField: setting({
    label: 'media field', schema: optionalColumn, option: '--media-field <column>',
    optionHelp: `column with the post's media (optional): ${MEDIA_FIELD_RULES}; "none" removes it`,
    required: false, json: 'media_field', column: 'media_field', changeable: true,
  }),
  backfill: setting({
    label: 'backfill', schema: z.boolean({ error: 'backfill is either on or off' }).default(false), option: '--backfill',
    optionHelp: 'also tweet the records the table already holds', required: false, json: 'backfill', changeable: false,
  }),
};

export type SettingKey = keyof typeof INTEGRATION_SETTINGS;
type Shape = { [K in SettingKey]: (typeof INTEGRATION_SETTINGS)[K]['schema'] };

export const integrationSettingsSchema = z.object(
  Object.fromEntries(Object.entries(INTEGRATION_SETTINGS).map(([key, spec]) => [key, spec.schema])) as Shape,
);

/** The settings after validation, with defaults filled in. */
export type IntegrationSettings = z.output<typeof integrationSettingsSchema>;

/** Settings as the command line, a form or a caller gives them: text, before validation. */
export type IntegrationInput = {
  [K in SettingKey]?: IntegrationSettings[K] extends boolean ? boolean : IntegrationSettings[K] extends number ? number | string : string;
};

/** The settings an integration row keeps as they are (table becomes table_name and primary_key_column; backfill is done once). */
export type StoredSettings = Omit<IntegrationSettings, 'table' | 'backfill'>;
export type ChangeableSettings = Omit<StoredSettings, 'accountId'>;

export const SETTING_KEYS = Object.keys(INTEGRATION_SETTINGS) as SettingKey[];
export const STORED_SETTING_KEYS = SETTING_KEYS.filter((key) => INTEGRATION_SETTINGS[key].column) as Array<keyof StoredSettings>;
export const CHANGEABLE_SETTING_KEYS = SETTING_KEYS.filter((key) => INTEGRATION_SETTINGS[key].changeable) as Array<keyof ChangeableSettings>;

export interface SettingProblem {
  field: string;
  message: string;
}

/**
 * Checks the given settings one by one, so every wrong setting is reported at once, each with its
 * field. `keys` limits the check to some settings (a wizard step, or what an update changes).
 */
export function parseSettings(input: IntegrationInput, keys: readonly SettingKey[] = SETTING_KEYS): { values: Partial<IntegrationSettings>; errors: SettingProblem[] } {
  const values: Record<string, unknown> = {};
  const errors: SettingProblem[] = [];
  for (const key of keys) {
    const result = INTEGRATION_SETTINGS[key].schema.safeParse(input[key]);
    if (result.success) values[key] = result.data;
    else errors.push({ field: key, message: result.error.issues[0].message });
  }
  return { values: values as Partial<IntegrationSettings>, errors };
}

/** A setting that is on or off: an option without a value, a checkbox. */
export function isFlag(key: SettingKey): boolean {
  return !INTEGRATION_SETTINGS[key].option.includes('<');
}

/** The default a setting takes when it is not given, or undefined when it must be given. */
export function defaultOf(key: SettingKey): unknown {
  const result = INTEGRATION_SETTINGS[key].schema.safeParse(undefined);
  return result.success ? result.data : undefined;
}

/** The columns of kbts_integrations for the given settings. */
export function settingsToRow(settings: Partial<StoredSettings>): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const key of STORED_SETTING_KEYS) {
    if (settings[key] !== undefined) row[INTEGRATION_SETTINGS[key].column as string] = settings[key];
  }
  return row;
}

export function rowToSettings(row: Record<string, unknown>): StoredSettings {
  const settings: Record<string, unknown> = {};
  for (const key of STORED_SETTING_KEYS) settings[key] = row[INTEGRATION_SETTINGS[key].column as string];
  return settings as unknown as StoredSettings;
}

/** The stored settings under their `--json` names, as `integration list` prints them. */
export function settingsToJson(settings: StoredSettings): Record<string, unknown> {
  return Object.fromEntries(STORED_SETTING_KEYS.map((key) => [INTEGRATION_SETTINGS[key].json, settings[key]]));
}
