import { errorMessage } from '../lib/errors';
import { toIso } from '../lib/clock';
import type { Account } from '../store/accounts';
import { XUsageStore } from '../store/x-usage';
import { ChannelStore, type Channel } from '../store/channels';
import { XAccountRefusedError, XDirectMessagesAccessError, XRateLimitError } from '../twitter/errors';
import type { XClient, XDmEvent, XTweet } from '../twitter/x-client';
import { whileHoldingAccount } from '../sync/account-lease';
import { placeLogged, type PlaceCounts } from '../sync/inbound/channel-ingest';
import { dmRules, ingestDmEvents, pollDirectMessages } from '../sync/inbound/channel-dms';
import { ingestMentionsChannel, mentionRules } from '../sync/inbound/channel-mentions';
import { sendDueDmReplies } from '../sync/outbound/direct-messages';
import type { SyncDeps } from '../sync/sync-deps';

const DM_EVENTS = 'GET /2/dm_events';

/**
 * An account's channel work at its run, under its lease: what a pause held is placed once the
 * channel is active again; the DM channel sends its queued messages, then (at reply polls) reads new ones. A
 * channel's own trouble (its table, the DM permission) pauses or marks that channel and never
 * stops the account; X refusing the account itself is returned, as collectReplies' callers do.
 */
export async function workChannels(deps: SyncDeps, account: Account, x: XClient, options: { read: boolean }): Promise<string | null> {
  const store = new ChannelStore(deps.db);
  for (const channel of await store.listForAccount(account.id)) {
    if (channel.status !== 'active' || !account.xUserId) continue;
    try {
      await placeHeld(deps, account, channel);
      const sending = await sendDueDmReplies(deps, account, channel, x);
      if (sending.stop?.kind === 'account_refused') return sending.stop.reason;
      if (channel.kind !== 'dms') continue;
      if (!options.read || sending.stop || (await store.get(channel.id))?.status !== 'active') continue;
      // X allows 15 reads per 15 minutes: none left means the read waits for the reset.
      const limit = x.rateLimits.get(DM_EVENTS) ?? account.rateLimits[DM_EVENTS];
      if (limit && limit.remaining === 0 && limit.reset * 1000 > deps.clock.now().toMillis()) continue;
      if (!(await dmReadDue(deps, account, channel))) continue;
      const placed = await pollDirectMessages(deps, account, channel, x);
      if (placed.recordsCreated + placed.entriesWritten + placed.entriesLogged > 0) deps.logger.info('direct messages placed', { channelId: channel.id, ...placed });
      if (channel.lastError) await store.recordError(channel.id, null, toIso(deps.clock.now()));
    } catch (error) {
      if (error instanceof XDirectMessagesAccessError) {
        await store.pause(channel.id, error.message, toIso(deps.clock.now()));
        deps.logger.warn('channel paused: the X app may not read direct messages', { channelId: channel.id });
        continue;
      }
      if (error instanceof XAccountRefusedError) return error.message;
      const message = error instanceof XRateLimitError ? 'waiting for the X rate limit of GET /2/dm_events to reset' : errorMessage(error);
      await store.recordError(channel.id, message, toIso(deps.clock.now())).catch(() => undefined);
      deps.logger.error('channel work failed', { channelId: channel.id, error: message });
    }
  }
  return null;
}

/**
 * In webhook mode `dm.received` brings the messages and the read of GET /2/dm_events is a
 * backstop for lost deliveries, at the account's backstop interval; otherwise every reply poll reads.
 */
async function dmReadDue(deps: SyncDeps, account: Account, channel: Channel): Promise<boolean> {
  const webhook = await deps.accountWebhooks?.get(account.id);
  if (!webhook?.enabled || !channel.dmReadAt) return true;
  return deps.clock.now().toMillis() - Date.parse(channel.dmReadAt) >= webhook.backstopMinutes * 60_000;
}

/** Entries a pause held, placed now (taken and placed in one transaction, so a crash keeps them held). */
async function placeHeld(deps: SyncDeps, account: Account, channel: Channel): Promise<void> {
  const counts: PlaceCounts = { recordsCreated: 0, entriesWritten: 0, entriesLogged: 0 };
  await deps.db.transaction(async (trx) => {
    const held = await new ChannelStore(trx).takeHeld(channel.id);
    const rules = channel.kind === 'dms' ? dmRules(channel, account.xUserId as string) : mentionRules(channel.id);
    await placeLogged(deps, trx, channel, held, rules, counts);
  });
}

/** What a webhook delivery brings a channel: tweets (mentions, replies) or direct messages. */
export interface ChannelDelivery {
  tweets?: XTweet[];
  dms?: Array<XDmEvent & { recipientId?: string | null }>;
}

// A busy account (a poll holding its lease) is asked again this often.
const BUSY_RETRY_MS = 50;

/**
 * Channel events that came by webhook, placed under the account's lease (one writer per
 * record). Answered before they are placed, as X wants; a crash loses only what the poll (DMs:
 * from the channel's cursor; mentions: the backstop read) brings back.
 */
export class ChannelWebhookIngestion {
  private readonly queues = new Map<number, ChannelDelivery[]>();
  private readonly draining = new Map<number, Promise<void>>();

  constructor(private readonly deps: SyncDeps) {}

  accept(accountId: number, delivery: ChannelDelivery): void {
    this.queues.set(accountId, [...(this.queues.get(accountId) ?? []), delivery]);
    if (!this.draining.has(accountId)) this.draining.set(accountId, this.drain(accountId).finally(() => this.draining.delete(accountId)));
  }

  async idle(): Promise<void> {
    while (this.draining.size > 0) await Promise.all([...this.draining.values()]);
  }

  private async drain(accountId: number): Promise<void> {
    for (;;) {
      const deliveries = this.queues.get(accountId) ?? [];
      if (deliveries.length === 0) return;
      this.queues.delete(accountId);
      try {
        const held = await whileHoldingAccount(this.deps, accountId, async () => {
          const account = await this.deps.accounts.get(accountId);
          if (!account) return;
          await ingestMentionsChannel(this.deps, account, deliveries.flatMap((delivery) => delivery.tweets ?? []));
          await ingestDmEvents(this.deps, account, deliveries.flatMap((delivery) => delivery.dms ?? []));
        });
        if (!held.held) {
          this.queues.set(accountId, [...deliveries, ...(this.queues.get(accountId) ?? [])]);
          await this.deps.clock.sleep(BUSY_RETRY_MS);
        }
      } catch (error) {
        this.deps.logger.error('channel webhook events could not be placed; the poll reads them', { accountId, error: errorMessage(error) });
      }
    }
  }
}

/** The event types a webhook-mode account subscribes to for its channels, beyond replies and mentions. */
export async function channelEventTypes(deps: Pick<SyncDeps, 'db'>, accountId: number): Promise<string[]> {
  const dms = await new ChannelStore(deps.db).findForAccount(accountId, 'dms');
  return dms && dms.status === 'active' ? ['dm.received'] : [];
}

/**
 * The accounts whose only work is their channels (active channels, no active integration), for
 * the scheduler and `poll --once`, which otherwise find work through integrations. An account
 * held by X's credits or its budget is left out: its channels wait with it.
 */
export async function channelOnlyAccounts(deps: Pick<SyncDeps, 'db' | 'integrations'>): Promise<number[]> {
  const withIntegrations = new Set((await deps.integrations.list()).filter((integration) => integration.status === 'active').map((integration) => integration.accountId));
  const held = new Set((await new XUsageStore(deps.db).listSpending()).filter((spending) => spending.hold).map((spending) => spending.accountId));
  const accounts = new Set((await new ChannelStore(deps.db).list()).filter((channel) => channel.status === 'active').map((channel) => channel.accountId));
  return [...accounts].filter((accountId) => !withIntegrations.has(accountId) && !held.has(accountId)).sort((a, b) => a - b);
}
