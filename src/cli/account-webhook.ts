import type { Command } from 'commander';
import type { Services } from '../app';
import { ValidationError } from '../lib/errors';
import type { WebhookStatus } from '../sync/webhooks';

interface CliTools {
  withServices<T>(work: (services: Services) => Promise<T>): Promise<T>;
  print(command: Command, value: Record<string, unknown>, human: string): void;
  parseId(value: string, what: string): number;
}

function describe(status: WebhookStatus): string {
  if (!status.enabled) {
    return [`account ${status.account_id}: real-time replies are off; replies are read by the poll`, ...(status.last_error ? [`problem: ${status.last_error}`] : [])].join('\n');
  }
  return [
    `account ${status.account_id}: real-time replies are on (webhook ${status.webhook_id ?? 'not registered'}, ${status.valid ? 'valid' : 'NOT valid at X'})`,
    `  delivered to ${status.webhook_url}`,
    `  subscriptions: ${status.subscriptions.map((sub) => `${sub.event_type} (${sub.id})`).join(', ') || 'none'}`,
    `  last CRC check: ${status.last_crc_at ?? 'never'}; last event: ${status.last_event_at ?? 'never'}; events today: ${status.events_today}`,
    `  backstop poll of mentions every ${status.backstop_minutes} minutes`,
    ...(status.last_error ? [`  problem: ${status.last_error}`] : []),
  ].join('\n');
}

function backstopMinutes(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new ValidationError(`--backstop-minutes must be a whole number of minutes from 1 to 1440, not '${value}'`);
  return Number(value);
}

/** `account webhook enable|disable|status ID`: real-time replies by X's Activity API. */
export function addAccountWebhookCommands(account: Command, tools: CliTools): void {
  const webhook = account.command('webhook').description('real-time replies by webhook (X Activity API); the mentions poll stays as a backstop');
  webhook.command('enable <id>')
    .description('register this server\'s webhook with X (PUBLIC_URL; serve must be running to answer X\'s check) and subscribe the account to its replies and mentions')
    .option('--backstop-minutes <n>', 'how often the mentions poll still runs, to catch lost deliveries (default 15)')
    .action(async (id: string, options: { backstopMinutes?: string }, command: Command) => {
      const minutes = backstopMinutes(options.backstopMinutes);
      await tools.withServices(async (services) => {
        const status = await services.webhooks.enable(tools.parseId(id, 'account id'), { backstopMinutes: minutes });
        tools.print(command, status as unknown as Record<string, unknown>, describe(status));
      });
    });
  webhook.command('disable <id>').description('remove the webhook and subscriptions at X; replies are read by the poll at its own frequency again')
    .action(async (id: string, _options, command: Command) => {
      await tools.withServices(async (services) => {
        const status = await services.webhooks.disable(tools.parseId(id, 'account id'));
        tools.print(command, status as unknown as Record<string, unknown>, describe(status));
      });
    });
  webhook.command('status <id>').description('registered, valid, webhook id, subscriptions, last CRC check, last event, events today')
    .action(async (id: string, _options, command: Command) => {
      await tools.withServices(async (services) => {
        const status = await services.webhooks.status(tools.parseId(id, 'account id'));
        tools.print(command, status as unknown as Record<string, unknown>, describe(status));
      });
    });
}
