import { Command, CommanderError, Option } from 'commander';
import { buildServices, type Services } from './app';
import { loadConfig, readPasswordFromEnv, readXCredentialsFromEnv } from './config';
import { migrateToLatest, createDb } from './db/database';
import { toIso } from './lib/clock';
import { NotFoundError, UserFacingError, ValidationError, errorMessage } from './lib/errors';
import { hashPassword } from './lib/password';
import { addAccount, testAccount } from './setup/account-setup';
import { addIntegration, pauseIntegration, removeIntegration, resumeIntegration, retryRecords, updateIntegration } from './setup/integration-setup';
import { defaultOf, INTEGRATION_SETTINGS, SETTING_KEYS, settingsToJson, type IntegrationInput, type SettingKey } from './settings/integration-settings';
import type { Account } from './store/accounts';
import type { Integration } from './store/integrations';
import { tweetIdTimeMs } from './twitter/snowflake';
import { ROLES, type Role } from './store/users';
import { runPollCycle, type AccountOutcome } from './sync/poll-cycle';
import { parseInstant } from './emulator/clock';
import { addAccountWebhookCommands } from './cli/account-webhook';
import { addAccountCostCommands } from './cli/account-costs';
import { probeHeldAccounts } from './sync/credits-probe';
import { addAgentReplyCommand, addReplySwitchesCommand } from './cli/agent-reply';
import { addChannelCommands } from './cli/channel';

type Output = { json: boolean };

function print(output: Output, value: Record<string, unknown>, human: string): void {
  process.stdout.write(output.json ? JSON.stringify(value) + '\n' : human + '\n');
}

/** Warnings go to standard error, one line each, so standard output stays the result; `--json` carries them in the object. */
function warn(output: Output, warnings: Array<{ message: string }>): void {
  if (!output.json) for (const warning of warnings) process.stderr.write(`warning: ${warning.message}\n`);
}

function parseId(value: string, what: string): number {
  const id = Number(value);
  if (!Number.isInteger(id) || id <= 0) throw new ValidationError(`${what} must be a positive whole number, not '${value}'`);
  return id;
}

function accountSummary(account: Account) {
  return {
    id: account.id,
    description: account.description,
    environment: account.environment,
    api_base_url: account.apiBaseUrl,
    screen_name: account.screenName,
    x_user_id: account.xUserId,
    last_tested_at: account.lastTestedAt,
    last_test_error: account.lastTestError,
    // A backlog of mentions larger than one read, which the next polls are still reading: posted between these times.
    mentions_backlog: account.backlogWindow ? backlogTimes(account.backlogWindow) : null,
  };
}

function backlogTimes(window: NonNullable<Account['backlogWindow']>): { from: string; to: string } {
  return { from: new Date(tweetIdTimeMs(window.sinceId)).toISOString(), to: new Date(tweetIdTimeMs(window.untilId)).toISOString() };
}

function backlogLine(account: Account): string {
  if (!account.backlogWindow) return '';
  const { from, to } = backlogTimes(account.backlogWindow);
  return `\n  still reading a backlog of mentions posted between ${from} and ${to}`;
}

function integrationSummary(integration: Integration) {
  return {
    id: integration.id,
    table: integration.tableName,
    ...settingsToJson(integration),
    status: integration.status,
    paused_reason: integration.pausedReason,
    last_poll_at: integration.lastPollAt,
    last_error: integration.lastError,
    duplicate_of: integration.duplicateOf,
  };
}

/** `poll --once` exit status when the cycle ran but an account's or integration's work failed or was paused. */
const POLL_WORK_FAILED_EXIT = 3;

function describeAccountOutcome(account: AccountOutcome): string {
  const head = `account ${account.accountId}: `;
  switch (account.outcome) {
    case 'done': return `${head}published ${account.published}, replies applied ${account.repliesApplied}`;
    case 'busy': return `${head}worked by another process`;
    case 'rate_limited': return `${head}rate-limited by X until ${account.rateLimitedUntil}`;
    case 'paused': return `${head}paused: ${account.reason}`;
    case 'failed': return `${head}failed: ${account.reason}`;
  }
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new ValidationError('set KBTS_PASSWORD or pipe the password on standard input');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/**
 * The options of `integration add` (and `update`), one per setting of the schema. Commander only
 * reads them: the settings' own rules check the values, so the messages are the wizard's.
 */
function addSettingOptions(command: Command, use: 'add' | 'update'): Map<string, SettingKey> {
  const byAttribute = new Map<string, SettingKey>();
  for (const key of SETTING_KEYS) {
    const spec = INTEGRATION_SETTINGS[key];
    const fallback = defaultOf(key);
    const option = new Option(spec.option, spec.optionHelp + (use === 'add' && fallback !== undefined && fallback !== false ? ` (default ${fallback})` : ''));
    if (use === 'add' && spec.required) option.makeOptionMandatory();
    // Update still takes them, to say in words why they cannot change.
    if (use === 'update' && !spec.changeable) option.hideHelp();
    command.addOption(option);
    byAttribute.set(option.attributeName(), key);
  }
  return byAttribute;
}

function settingsFromOptions(options: Record<string, unknown>, byAttribute: Map<string, SettingKey>): IntegrationInput {
  const input: Record<string, unknown> = {};
  for (const [attribute, key] of byAttribute) if (options[attribute] !== undefined) input[key] = options[attribute];
  return input as IntegrationInput;
}

/** Builds the services for one command and always closes the database afterwards. */
async function withServices<T>(work: (services: Services) => Promise<T>): Promise<T> {
  const services = await buildServices(loadConfig());
  try {
    return await work(services);
  } finally {
    await services.close();
  }
}

export function buildProgram(): Command {
  const program = new Command('kb-twitter-sync')
    .description('Tweet each new knowledgebase record exactly once and write the replies back into it')
    .option('--json', 'machine-readable output: one JSON object')
    .showHelpAfterError()
    .exitOverride();
  const out = (command: Command): Output => ({ json: Boolean(command.optsWithGlobals().json) });

  program.command('serve').description('migrate, then run the web server and the scheduler').action(async () => {
    // Loaded only for this command, so the others (a `poll` worker above all) leave the web app
    // out of memory. require, not import(): the source run (tsx/cjs) resolves no ESM import of a .ts file.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { serve } = require('./serve') as typeof import('./serve');
    await serve(loadConfig());
  });

  program.command('migrate').description('apply database migrations').action(async (_options, command: Command) => {
    const config = loadConfig();
    const db = createDb(config.database);
    try {
      const applied = await migrateToLatest(db);
      print(out(command), { applied }, applied.length ? `applied ${applied.length} migrations: ${applied.join(', ')}` : 'database is up to date');
    } finally {
      await db.destroy();
    }
  });

  program.command('poll').description('one publish + collect cycle (with --once), or poll on schedule without the web server')
    .option('--once', 'run one cycle for all (or one) integrations, then exit')
    .option('--integration <id>', 'only this integration')
    .action(async (options: { once?: boolean; integration?: string }, command: Command) => {
      const integrationId = options.integration ? parseId(options.integration, 'integration id') : undefined;
      if (!options.once) {
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when needed, as serve is
        const { pollForever } = require('./poll-daemon') as typeof import('./poll-daemon');
        await pollForever(loadConfig());
        return;
      }
      await withServices(async (services) => {
        if (integrationId !== undefined && !(await services.integrations.get(integrationId))) {
          throw new UserFacingError('not_found', `integration ${integrationId} does not exist`);
        }
        // Without a daemon, the cycle is where a held account's probe runs when due (credits back, the budget's month turned).
        await probeHeldAccounts(services.costs.probe);
        const counts = await runPollCycle(services.sync, { integrationId });
        print(out(command), {
          published: counts.published, skipped: counts.skipped, failed: counts.failed, deferred: counts.deferred,
          replies_applied: counts.repliesApplied, replies_logged: counts.repliesLogged, api_calls: counts.apiCalls,
          accounts_busy: counts.accountsBusy, errors: counts.errors,
          accounts: counts.accounts.map((account) => ({
            account_id: account.accountId, outcome: account.outcome, published: account.published, failed: account.failed,
            replies_applied: account.repliesApplied, rate_limited_until: account.rateLimitedUntil, reason: account.reason,
          })),
        }, [
          `published ${counts.published}, skipped ${counts.skipped}, failed ${counts.failed}, deferred ${counts.deferred}`,
          `replies applied ${counts.repliesApplied}, replies logged only ${counts.repliesLogged}, API calls ${counts.apiCalls}`,
          ...(counts.accountsBusy ? [`${counts.accountsBusy} account(s) were being worked by another process`] : []),
          ...counts.accounts.map(describeAccountOutcome),
          ...counts.errors.map((error) => `problem: ${error}`),
        ].join('\n'));
        // A cron job or a script must notice: the cycle ran, but some account's work did not get done.
        if (counts.accounts.some((account) => account.outcome === 'failed' || account.outcome === 'paused') || counts.errors.length > 0) {
          process.exitCode = POLL_WORK_FAILED_EXIT;
        }
      });
    });

  const admin = program.command('admin').description('web users');
  admin.command('create').description('create a user (password from KBTS_PASSWORD or standard input)')
    .requiredOption('--username <name>', 'login name')
    .addOption(new Option('--role <role>', 'admin, editor or viewer').choices([...ROLES]).default('admin'))
    .action(async (options: { username: string; role: Role }, command: Command) => {
      const username = options.username.trim();
      if (!/^[\w.@-]{1,100}$/.test(username)) throw new ValidationError('a username is 1 to 100 letters, digits, or . _ @ -');
      const password = readPasswordFromEnv() ?? await readStdin();
      if (password.length < 10) throw new ValidationError('the password must be at least 10 characters long');
      await withServices(async (services) => {
        if (await services.users.findByUsername(username)) throw new ValidationError(`user '${username}' already exists`);
        const id = await services.users.create(username, await hashPassword(password), options.role, toIso(services.clock.now()));
        print(out(command), { id, username, role: options.role }, `created ${options.role} '${username}' (id ${id})`);
      });
    });

  const account = program.command('account').description('X accounts');
  account.command('add').description('add an X account; credentials come from TWITTER_API_KEY, TWITTER_API_KEY_SECRET, TWITTER_ACCESS_TOKEN, TWITTER_ACCESS_TOKEN_SECRET')
    .requiredOption('--description <text>', 'what this account is for')
    .option('--api-base-url <url>', 'an X-compatible server instead of api.x.com')
    .option('--sandbox', 'use the emulator built into the running server')
    .action(async (options: { description: string; apiBaseUrl?: string; sandbox?: boolean }, command: Command) => {
      if (options.apiBaseUrl && options.sandbox) throw new ValidationError('choose either --api-base-url or --sandbox, not both');
      if (options.sandbox && !process.env.TWITTER_ACCESS_TOKEN) {
        // The sandbox issues users only through its web pages, behind a sign-in: its control paths are not served.
        throw new UserFacingError('sandbox_web_only', 'a new sandbox user is issued on the web app\'s X accounts page (add an account with the environment Sandbox); '
          + 'with --sandbox the command line takes only the TWITTER_* credentials of an existing sandbox user');
      }
      const credentials = readXCredentialsFromEnv();
      await withServices(async (services) => {
        const created = await addAccount(services.accountSetup, {
          description: options.description,
          environment: options.sandbox ? 'sandbox' : options.apiBaseUrl ? 'custom' : 'live',
          apiBaseUrl: options.apiBaseUrl ?? null,
          credentials,
        });
        print(out(command), { id: created.id, screen_name: created.screenName },
          `added account ${created.id}: @${created.screenName} (login test passed)`);
      });
    });
  account.command('test <id>').description('run the login test again').action(async (id: string, _options, command: Command) => {
    await withServices(async (services) => {
      const tested = await testAccount(services.accountSetup, parseId(id, 'account id'));
      print(out(command), { id: tested.id, screen_name: tested.screenName, ok: true }, `account ${tested.id}: logged in as @${tested.screenName}`);
    });
  });
  account.command('list').description('list accounts (never their secrets)').action(async (_options, command: Command) => {
    await withServices(async (services) => {
      const accounts = await services.accounts.list();
      print(out(command), { accounts: accounts.map(accountSummary) }, accounts.length === 0 ? 'no accounts'
        : accounts.map((a) => `${a.id}\t@${a.screenName ?? '?'}\t${a.environment}\t${a.description}${a.lastTestError ? `\t(${a.lastTestError})` : ''}`
          + backlogLine(a)).join('\n'));
    });
  });

  addAccountWebhookCommands(account, { withServices, parseId, print: (command, value, human) => print(out(command), value, human) });
  addAccountCostCommands(account, { withServices, parseId, print: (command, value, human) => print(out(command), value, human) });

  const integration = program.command('integration').description('table ↔ account integrations');
  const addCommand = integration.command('add').description('connect a table to an account (validated against the live schema)');
  const addOptions = addSettingOptions(addCommand, 'add');
  addCommand.action(async (options: Record<string, unknown>, command: Command) => {
    await withServices(async (services) => {
      const input = settingsFromOptions(options, addOptions);
      const { integration: created, warnings, backfilled } = await addIntegration(services.integrationSetup, input);
      print(out(command), { id: created.id, warnings: warnings.map((warning) => warning.message), backfilled },
        [`added integration ${created.id}: ${created.tableName}.${created.tweetField} → @account ${created.accountId}, replies ${created.responseMode} into ${created.responseField}`,
          ...(input.backfill ? [`backfill: ${backfilled} existing records will be tweeted`] : [])].join('\n'));
      warn(out(command), warnings);
    });
  });
  const updateCommand = integration.command('update <id>').description('change an integration\'s settings (the options of add; account and table stay), validated as on add');
  const updateOptions = addSettingOptions(updateCommand, 'update');
  updateCommand.action(async (id: string, options: Record<string, unknown>, command: Command) => {
    await withServices(async (services) => {
      const changes = settingsFromOptions(options, updateOptions);
      if (Object.keys(changes).length === 0) throw new ValidationError('give at least one setting to change, for example --every \'*/15 * * * *\'');
      const { integration: changed, warnings } = await updateIntegration(services.integrationSetup, parseId(id, 'integration id'), changes);
      print(out(command), { ...integrationSummary(changed), warnings: warnings.map((warning) => warning.message) },
        [`integration ${changed.id} updated: ${changed.tableName}.${changed.tweetField}, replies ${changed.responseMode} into ${changed.responseField} while ${changed.continueField} says Yes, `
          + `${changed.schedule} in ${changed.timeZone}, long texts: ${changed.longTextPolicy}`].join('\n'));
      warn(out(command), warnings);
    });
  });
  integration.command('list').description('list integrations').action(async (_options, command: Command) => {
    await withServices(async (services) => {
      const integrations = await services.integrations.list();
      // Replies X could no longer serve are said beside each integration of the account, until dismissed.
      const windows = await services.unreadableWindows.listOpen();
      const windowsOf = (i: Integration) => windows.filter((w) => w.accountId === i.accountId)
        .map(({ id, from, to, reason, reasonText }) => ({ id, from, to, reason, reasonText }));
      print(out(command), { integrations: integrations.map((i) => ({ ...integrationSummary(i), unreadableWindows: windowsOf(i) })) }, integrations.length === 0 ? 'no integrations'
        : integrations.map((i) => `${i.id}\t${i.status}${i.pausedReason ? ` (${i.pausedReason})` : ''}\t${i.tableName}\taccount ${i.accountId}\t${i.schedule}`
          + windowsOf(i).map((w) => `\n  replies between ${w.from} and ${w.to} could not be read: ${w.reasonText}`).join('')).join('\n'));
    });
  });
  for (const [name, verb, run] of [
    ['pause', 'paused', (services: Services, id: number) => pauseIntegration(services.integrationSetup, id)],
    ['resume', 'resumed', (services: Services, id: number) => resumeIntegration(services.integrationSetup, id)],
  ] as const) {
    integration.command(`${name} <id>`).description(`${name} an integration`).action(async (id: string, _options, command: Command) => {
      await withServices(async (services) => {
        const changed = await run(services, parseId(id, 'integration id'));
        print(out(command), { id: changed.id, status: changed.status }, `integration ${changed.id} ${verb}`);
      });
    });
  }
  integration.command('dismiss-window <id>').description('stop listing a window of replies X could not serve (its id is in `integration list --json`)')
    .action(async (id: string, _options, command: Command) => {
      await withServices(async (services) => {
        const windowId = parseId(id, 'window id');
        if (!(await services.unreadableWindows.dismiss(windowId, 'command line', toIso(services.clock.now())))) {
          throw new NotFoundError(`there is no listed window ${windowId} of unreadable replies (dismissed already, or never noted)`);
        }
        print(out(command), { id: windowId, dismissed: true }, `window ${windowId} dismissed; it is no longer listed`);
      });
    });
  integration.command('retry <id>').description('put failed and skipped records back to pending, to be tried again at the next run (a sent record is never tweeted again)')
    .option('--record <key>', 'only this record (its primary key)')
    .action(async (id: string, options: { record?: string }, command: Command) => {
      await withServices(async (services) => {
        const { integrationId, retried } = await retryRecords(services.integrationSetup, parseId(id, 'integration id'), options.record ?? null);
        const human = retried.length > 0
          ? `integration ${integrationId}: ${retried.length} record${retried.length === 1 ? '' : 's'} back to pending (${retried.join(', ')}); the next run tries ${retried.length === 1 ? 'it' : 'them'} again`
          : options.record !== undefined
            ? `integration ${integrationId}: record '${options.record}' is pending already; the next run tries it`
            : `integration ${integrationId}: no failed or skipped records to retry`;
        print(out(command), { id: integrationId, retried }, human);
      });
    });
  integration.command('remove <id>').description('remove an integration and its capture trigger').action(async (id: string, _options, command: Command) => {
    await withServices(async (services) => {
      const integrationId = parseId(id, 'integration id');
      await removeIntegration(services.integrationSetup, integrationId);
      print(out(command), { id: integrationId, removed: true }, `integration ${integrationId} removed`);
    });
  });

  addChannelCommands(program, { withServices, parseId, print: (command, value, human) => print(out(command), value, human) });

  program.command('emulator').description('run the X API emulator on its own')
    .option('--port <port>', 'port (0 for any free one)', '4000')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--clock <time>', "start the emulator's clock at this ISO-8601 time (it runs on from there)")
    .action(async (options: { port: string; host: string; clock?: string }, command: Command) => {
      const port = Number(options.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ValidationError(`--port must be a port number, not '${options.port}'`);
      if (options.clock !== undefined && parseInstant(options.clock) === null) {
        throw new ValidationError(`--clock must be an ISO-8601 time with a zone, e.g. 2026-12-01T09:00:00Z, not '${options.clock}'`);
      }
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when needed, as serve is
      const { startEmulator } = require('./emulator/emulator') as typeof import('./emulator/emulator');
      const emulator = await startEmulator({ port, host: options.host, startAt: options.clock });
      print(out(command), { url: emulator.url }, `X API emulator listening on ${emulator.url}`);
      const stop = () => { emulator.close().finally(() => process.exit(0)); };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });

  const replyTools = { withServices, parseId, print: (command: Command, value: Record<string, unknown>, human: string) => print(out(command), value, human) };
  addAgentReplyCommand(program, replyTools);
  addReplySwitchesCommand(program.commands.find((command) => command.name() === 'integration') as Command, replyTools);

  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode;
      return;
    }
    const known = error instanceof UserFacingError;
    const described = errorMessage(error);
    const message = known ? error.message : described !== (error as Error)?.message ? described : `unexpected failure: ${described}`;
    if (json) process.stdout.write(JSON.stringify({ error: message, ...(known ? { code: error.code } : {}) }) + '\n');
    process.stderr.write(`error: ${message}\n`);
    process.exitCode = known ? 1 : 2;
  }
}

if (require.main === module) {
  void main(process.argv);
}
