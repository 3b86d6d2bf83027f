import crypto from 'node:crypto';
import type { Command } from 'commander';
import type { Services } from '../app';
import { NotFoundError, ValidationError } from '../lib/errors';
import { TalkbackSettingsStore } from '../store/agent-replies';
import { queueAgentReply } from '../sync/outbound/agent-replies';

interface CliTools {
  withServices<T>(work: (services: Services) => Promise<T>): Promise<T>;
  print(command: Command, value: Record<string, unknown>, human: string): void;
  parseId(value: string, what: string): number;
}

/** The reply's text from standard input, as UTF-8 it must be (a broken byte is refused, not replaced). */
async function readReplyText(): Promise<string> {
  if (process.stdin.isTTY) throw new ValidationError('pipe the reply\'s text on standard input, e.g. echo "Yes, it does." | kb-twitter-sync reply …');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new ValidationError('standard input is not valid UTF-8 (broken Unicode); nothing was sent');
  }
}

/** Who writes the reply: --as, or the only admin when there is exactly one. */
async function writer(services: Services, username: string | undefined): Promise<number> {
  if (username !== undefined) {
    const user = await services.users.findByUsername(username);
    if (!user) throw new NotFoundError(`user '${username}' does not exist`);
    return user.id;
  }
  const admins = (await services.users.list()).filter((user) => user.role === 'admin');
  if (admins.length !== 1) throw new ValidationError('say who writes the reply with --as USERNAME (an editor or admin)');
  return admins[0].id;
}

/** `reply --integration ID --record KEY [--to TWEET_ID] [--as USERNAME]`: queues an agent's reply; the daemon or the next `poll --once` posts it. */
export function addAgentReplyCommand(program: Command, tools: CliTools): void {
  program.command('reply').description('answer from a record: the text on standard input, posted once by the running daemon or the next poll --once')
    .requiredOption('--integration <id>', 'integration id')
    .requiredOption('--record <key>', 'the record\'s primary key')
    .option('--to <tweet_id>', 'the tweet of the record\'s conversation to answer (default: the record\'s tweet)')
    .option('--as <username>', 'the editor or admin writing it (default: the only admin)')
    .action(async (options: { integration: string; record: string; to?: string; as?: string }, command: Command) => {
      const integrationId = tools.parseId(options.integration, 'integration id');
      if (options.to !== undefined && !/^\d{1,19}$/.test(options.to)) throw new ValidationError(`--to must be a tweet id (digits), not '${options.to}'`);
      const text = await readReplyText();
      await tools.withServices(async (services) => {
        const { reply, created } = await queueAgentReply(services, {
          integrationId, recordKey: options.record, text, inReplyToTweetId: options.to ?? null,
          userId: await writer(services, options.as), idempotencyKey: crypto.randomUUID(),
        });
        tools.print(command, { id: reply.id, state: reply.state, tweet_id: reply.tweetId }, created
          ? `reply ${reply.id} queued (${reply.state}) to tweet ${reply.inReplyToTweetId}: the running daemon posts it, or the next poll --once`
          : `the same reply to tweet ${reply.inReplyToTweetId} is already queued or sent as reply ${reply.id} (${reply.state}); nothing new was queued`);
      });
    });
}

function onOff(value: string | undefined, option: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'on' || value === 'off') return value === 'on';
  throw new ValidationError(`${option} takes on or off, not '${value}'`);
}

/** `integration replies ID [--initials on|off] [--dm-link on|off]`: the switches of replies from the record. */
export function addReplySwitchesCommand(integration: Command, tools: CliTools): void {
  integration.command('replies <id>').description('what replies from the record carry: the agent\'s initials, the DM deep link (X bills a post with a URL at a much higher price)')
    .option('--initials <on|off>', 'sign replies " - J.D" from the writer\'s display name')
    .option('--dm-link <on|off>', 'add https://x.com/messages/compose?recipient_id=<account> (a post with a URL costs $0.200 instead of $0.015)')
    .action(async (id: string, options: { initials?: string; dmLink?: string }, command: Command) => {
      const integrationId = tools.parseId(id, 'integration id');
      const initials = onOff(options.initials, '--initials');
      const dmLink = onOff(options.dmLink, '--dm-link');
      await tools.withServices(async (services) => {
        if (!(await services.integrations.get(integrationId))) throw new NotFoundError(`integration ${integrationId} does not exist`);
        const store = new TalkbackSettingsStore(services.db);
        const current = await store.switches(integrationId);
        const next = { agentInitials: initials ?? current.agentInitials, dmDeepLink: dmLink ?? current.dmDeepLink };
        await store.setSwitches(integrationId, next);
        tools.print(command, { integration_id: integrationId, agent_initials: next.agentInitials, dm_deep_link: next.dmDeepLink },
          `integration ${integrationId}: agent initials ${next.agentInitials ? 'on' : 'off'}, DM deep link ${next.dmDeepLink ? 'on (each reply with it is billed as a post with a URL)' : 'off'}`);
      });
    });
}
