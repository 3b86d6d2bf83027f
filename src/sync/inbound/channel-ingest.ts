import type { Knex } from 'knex';
import { channelSchemaProblem } from '../../channels/channel-setup';
import { insertRecord, readRecord } from '../../kb/records';
import { describeTable, type TableInfo } from '../../kb/schema';
import { continueAllows, parseYesNo } from '../../kb/yes-no';
import { toIso } from '../../lib/clock';
import { errorMessage } from '../../lib/errors';
import { CHANNEL_TAGS, ChannelStore, type Channel, type ChannelEntry, type NewChannelEntry } from '../../store/channels';
import type { Integration } from '../../store/integrations';
import { unescapeXText } from '../response-format';
import type { SyncDeps } from '../sync-deps';
import { applyToRecords } from './ingest';

/**
 * The one placing step both channels share: in ONE transaction, what came in is logged (unique
 * by source and X id, so what the webhook and the poll both deliver is placed once), then each
 * new entry, oldest first, opens a record or is written into its record's response field —
 * through the integration's own writer (ingest.ts: mode, format, length limit, continue field).
 */

export interface PlaceCounts {
  recordsCreated: number;
  entriesWritten: number;
  entriesLogged: number;
}

/** Where an entry goes: a new record, or one that exists. */
export type Placement = { open: true } | { open: false; recordKey: string };

export interface ChannelRules {
  /** The entry's record, decided before it is written (earlier entries of the batch already placed). */
  placementOf(trx: Knex, entry: ChannelEntry, table: TableInfo): Promise<Placement | { logOnly: string }>;
  /** The link to the post or the conversation on X. */
  linkOf(entry: ChannelEntry): string;
  /** Whether an entry that opens a record also becomes the first entry of its response field. */
  firstEntryInResponse: boolean;
}

// What the text field says for a message that came with media only.
export const MEDIA_ONLY_TEXT = '(a photo or video without text: open the conversation on X to see it)';

export async function placeChannelEntries(deps: SyncDeps, channel: Channel, incoming: NewChannelEntry[], rules: ChannelRules): Promise<PlaceCounts> {
  const counts: PlaceCounts = { recordsCreated: 0, entriesWritten: 0, entriesLogged: 0 };
  if (incoming.length === 0) return counts;
  await deps.db.transaction(async (trx) => {
    const store = new ChannelStore(trx);
    const now = toIso(deps.clock.now());
    const fresh = await store.insertNew(incoming, now);
    await placeLogged(deps, trx, channel, fresh, rules, counts);
  });
  return counts;
}

/** Places entries already in the log (new ones, or ones a pause held), inside the caller's transaction. */
export async function placeLogged(deps: SyncDeps, trx: Knex, channel: Channel, entries: ChannelEntry[], rules: ChannelRules, counts: PlaceCounts): Promise<void> {
  if (entries.length === 0) return;
  const store = new ChannelStore(trx);
  const current = (await store.get(channel.id)) ?? channel;
  const broken = current.status === 'active' ? await channelSchemaProblem(trx, current) : null;
  if (broken) {
    await store.pause(channel.id, broken, toIso(deps.clock.now()));
    deps.logger.warn('channel paused: its table cannot take records', { channelId: channel.id, reason: broken });
  }
  if (broken || current.status !== 'active') {
    const reason = `held: the channel is paused (${broken ?? current.pausedReason ?? 'paused'}); resuming it places this`;
    for (const entry of entries) {
      await store.settleEntry(entry.id, { recordKey: null, applied: false, notAppliedReason: reason, openedRecord: false, held: true });
      counts.entriesLogged++;
    }
    return;
  }
  const table = (await describeTable(trx, channel.tableName)) as TableInfo;
  const sorted = [...entries].sort((a, b) => (a.xCreatedAt ?? '').localeCompare(b.xCreatedAt ?? '') || (BigInt(a.xId) < BigInt(b.xId) ? -1 : 1));
  for (const entry of sorted) {
    const placement = await rules.placementOf(trx, entry, table);
    if ('logOnly' in placement) {
      await store.settleEntry(entry.id, { recordKey: entry.recordKey, applied: false, notAppliedReason: placement.logOnly, openedRecord: false, held: false });
      counts.entriesLogged++;
      continue;
    }
    let recordKey: string;
    if (placement.open) {
      try {
        recordKey = await trx.transaction((savepoint) => openRecord(savepoint, channel, table, entry, rules.linkOf(entry)));
      } catch (error) {
        await store.settleEntry(entry.id, { recordKey: null, applied: false, notAppliedReason: `not written: the record could not be created (${errorMessage(error)})`, openedRecord: false, held: false });
        counts.entriesLogged++;
        continue;
      }
      counts.recordsCreated++;
      entry.recordKey = recordKey;
      if (!rules.firstEntryInResponse) {
        await store.settleEntry(entry.id, { recordKey, applied: true, notAppliedReason: null, openedRecord: true, held: false });
        continue;
      }
    } else {
      recordKey = placement.recordKey;
    }
    const [written] = await applyToRecords(deps, trx, [{
      tweet: {
        id: entry.xId, text: entry.text || MEDIA_ONLY_TEXT, authorId: entry.personId, authorUsername: entry.authorUsername,
        createdAt: entry.xCreatedAt, conversationId: null, inReplyToTweetId: entry.parentId, inReplyToUserId: null,
      },
      publication: { id: 0, recordKey },
      integration: asWriter(channel),
    }]);
    entry.recordKey = recordKey;
    await store.settleEntry(entry.id, { recordKey, applied: written.applied, notAppliedReason: written.notAppliedReason, openedRecord: placement.open, held: false });
    if (written.applied) counts.entriesWritten++;
    else counts.entriesLogged++;
  }
}

/** The integration's writer (applyToRecords) reads these settings; a channel has them too. */
function asWriter(channel: Channel): Integration {
  return {
    id: channel.id, tableName: channel.tableName, primaryKeyColumn: channel.primaryKeyColumn, responseField: channel.responseField,
    responseMode: channel.responseMode, continueField: channel.continueField, timeZone: channel.timeZone, status: 'active', pausedReason: null,
  } as Integration;
}

/** A Yes the column can hold: a boolean, a number, or the word. */
function openValue(table: TableInfo, field: string): string | number | boolean {
  const type = table.columns.find((column) => column.name === field)?.type ?? '';
  if (/bool/i.test(type)) return true;
  if (/int|numeric|bit/i.test(type)) return 1;
  return 'Yes';
}

/** A text cut to the column's limit, with an ellipsis, when the column has one. */
function fitted(table: TableInfo, field: string, text: string): string {
  const limit = table.columns.find((column) => column.name === field)?.maxLength ?? null;
  if (limit === null || text.length <= limit) return text;
  return `${Array.from(text).slice(0, Math.max(0, limit - 1)).join('')}…`;
}

async function openRecord(trx: Knex, channel: Channel, table: TableInfo, entry: ChannelEntry, link: string): Promise<string> {
  const values = new Map<string, string | number | boolean | null>();
  // The whole text stays in the log (and, for messages, in the response field); a short column gets what fits.
  values.set(channel.textField, fitted(table, channel.textField, unescapeXText(entry.text) || MEDIA_ONLY_TEXT));
  values.set(channel.authorField, fitted(table, channel.authorField, `@${entry.authorUsername ?? entry.personId ?? 'unknown'}`));
  values.set(channel.linkField, fitted(table, channel.linkField, link));
  if (channel.tagField) values.set(channel.tagField, fitted(table, channel.tagField, CHANNEL_TAGS[channel.kind]));
  values.set(channel.continueField, openValue(table, channel.continueField));
  const key = await insertRecord(trx, table, values);
  if (key === null) throw new Error(`table '${channel.tableName}' gave no key for the new record`);
  return key;
}

/** The record exists and its Yes/No field keeps it open (Yes or blank). */
export async function isOpen(trx: Knex, channel: Channel, recordKey: string): Promise<boolean> {
  const record = await readRecord(trx, { table: channel.tableName, primaryKeyColumn: channel.primaryKeyColumn }, recordKey);
  return record !== undefined && continueAllows(parseYesNo(record[channel.continueField]));
}

/** Whether a record exists (an entry under a deleted record opens a new one). */
export async function recordExists(trx: Knex, channel: Channel, recordKey: string): Promise<boolean> {
  return (await readRecord(trx, { table: channel.tableName, primaryKeyColumn: channel.primaryKeyColumn }, recordKey)) !== undefined;
}
