import type { Command } from 'commander';
import type { Services } from '../app';
import { addChannel, channelSummaries, channelSummary, pauseChannel, removeChannel, resumeChannel, type ChannelSetupDeps } from '../channels/channel-setup';
import { queueDmReply } from '../sync/outbound/direct-messages';
import { ValidationError } from '../lib/errors';
import { ChannelStore, type Channel } from '../store/channels';

interface CliTools {
  withServices<T>(work: (services: Services) => Promise<T>): Promise<T>;
  print(command: Command, value: Record<string, unknown>, human: string): void;
  parseId(value: string, what: string): number;
}

function setupDeps(services: Services): ChannelSetupDeps {
  return { db: services.db, accounts: services.accounts, integrations: services.integrations, clock: services.clock };
}

function describe(channel: Channel): string {
  return `${channel.id}\t${channel.kind}\taccount ${channel.accountId}\t${channel.tableName}\t${channel.status}${channel.pausedReason ? ` (${channel.pausedReason})` : ''}`;
}

/**
 * `channel add|list|pause|resume|remove` and `channel reply`: an account's mentions or direct
 * messages made records of a KB table (off until added), validated as the wizard validates.
 */
export function addChannelCommands(program: Command, tools: CliTools): void {
  const channel = program.command('channel').description('inbound channels: an account\'s mentions or direct messages become records of a KB table');
  channel.command('add').description('map an account\'s mentions or direct messages onto a KB table (validated against the live schema)')
    .requiredOption('--account <id>', 'the X account')
    .requiredOption('--kind <kind>', 'mentions or dms')
    .requiredOption('--table <table>', 'the KB table the records go into')
    .requiredOption('--text-field <field>', 'the mention\'s or first message\'s text')
    .requiredOption('--author-field <field>', 'the author, as @username')
    .requiredOption('--link-field <field>', 'the link to the post or the conversation on X')
    .requiredOption('--response-field <field>', 'replies and messages are written here')
    .requiredOption('--mode <mode>', 'append, prepend or overwrite')
    .requiredOption('--continue-field <field>', 'the Yes/No field that keeps the conversation open')
    .option('--tag-field <field>', 'set to "Twitter: Mention" or "Twitter: Direct"')
    .action(async (options: Record<string, string | undefined>, command: Command) => {
      await tools.withServices(async (services) => {
        const { channel: created, warnings } = await addChannel(setupDeps(services), {
          accountId: options.account, kind: options.kind, table: options.table, textField: options.textField, authorField: options.authorField,
          linkField: options.linkField, tagField: options.tagField, responseField: options.responseField, mode: options.mode, continueField: options.continueField,
        });
        // An account in webhook mode subscribes to dm.received now, not at the next check.
        await services.webhooks.check(created.accountId);
        tools.print(command, { ...channelSummary(created), warnings: warnings.map((warning) => warning.message) },
          [`added channel ${created.id}: ${created.kind} of account ${created.accountId} → records of ${created.tableName}`, ...warnings.map((w) => `warning: ${w.message}`)].join('\n'));
      });
    });
  channel.command('list').description('list channels').action(async (_options, command: Command) => {
    await tools.withServices(async (services) => {
      const channels = await new ChannelStore(services.db).list();
      tools.print(command, { channels: await channelSummaries(services.db, channels) }, channels.length === 0 ? 'no channels' : channels.map(describe).join('\n'));
    });
  });
  for (const [name, verb, run] of [
    ['pause', 'paused', (services: Services, id: number) => pauseChannel(setupDeps(services), id)],
    ['resume', 'resumed', (services: Services, id: number) => resumeChannel(setupDeps(services), id)],
  ] as const) {
    channel.command(`${name} <id>`).description(`${name} a channel`).action(async (id: string, _options, command: Command) => {
      await tools.withServices(async (services) => {
        const changed = await run(services, tools.parseId(id, 'channel id'));
        tools.print(command, channelSummary(changed), `channel ${changed.id} ${verb}`);
      });
    });
  }
  channel.command('remove <id>').description('remove a channel (its records stay in the table)').action(async (id: string, _options, command: Command) => {
    await tools.withServices(async (services) => {
      const channelId = tools.parseId(id, 'channel id');
      await removeChannel(setupDeps(services), channelId);
      tools.print(command, { id: channelId, removed: true }, `channel ${channelId} removed`);
    });
  });
  channel.command('reply <id>').description('queue a reply from a channel\'s record (a DM, or a public reply under a mention); it is sent once, at the account\'s next run')
    .requiredOption('--record <key>', 'the record (its primary key)')
    .requiredOption('--text <text>', 'the message')
    .action(async (id: string, options: { record: string; text: string }, command: Command) => {
      await tools.withServices(async (services) => {
        if (!options.text.trim()) throw new ValidationError('write the text of the message');
        const queued = await queueDmReply(services.sync, { channelId: tools.parseId(id, 'channel id'), recordKey: options.record, text: options.text, requestedBy: 'command line' });
        tools.print(command, { id: queued.id, state: queued.state, participant_id: queued.participantId, in_reply_to_tweet_id: queued.inReplyToTweetId },
          `${queued.inReplyToTweetId ? 'public reply' : 'direct message'} ${queued.id} queued for record '${options.record}'`);
      });
    });
}
