import crypto from 'node:crypto';
import express from 'express';
import type { Services } from '../../app';
import { channelReplyTarget } from '../../channels/reply-target';
import { UserFacingError } from '../../lib/errors';
import { ChannelStore, type DmReply } from '../../store/channels';
import { MAX_DM_TEXT, queueDmReply } from '../../sync/outbound/direct-messages';
import { MAX_TWEET_WEIGHT } from '../../twitter/weighted-length';
import type { WebContext } from '../context';
import { positiveId, raw } from '../forms';
import { knownTableOrFail } from '../kb-tables';
import { can, requirePermission } from '../middleware/auth';
import type { SignedInUser } from '../types';

// Answering from a channel's record (issue 15): a direct message to the person whose messages a
// DM-channel record holds, or a public reply under the person's latest post in a mentions-channel
// record; queued with the form's key and sent once by the account's next run.

const recordPage = (table: string, key: string) => `/records/${encodeURIComponent(table)}/rows/${encodeURIComponent(key)}`;

/** A reply as people read it: "sending", "sent", or "failed" with the reason. */
function dmReplyStatus(reply: DmReply) {
  const open = reply.state === 'pending' || reply.state === 'sending';
  return {
    id: reply.id,
    shown: open ? 'sending' : reply.state,
    words: reply.state === 'sent' ? 'sent' : reply.state === 'failed' ? `failed: ${reply.reason ?? 'no reason given'}`
      : reply.reason ? `sending (${reply.reason})` : 'sending: it goes with the account\'s next run, within half a minute',
    text: reply.text,
    requested_by: reply.requestedBy,
  };
}

/** What the record page shows of a channel's record: whom a reply reaches, the replies so far, and the box. */
export interface ChannelReplyView {
  kind: 'dm' | 'mention';
  channelId: number;
  canReply: boolean;
  /** Why there is no box, for an editor: the channel is paused. */
  notice: string | null;
  /** Whom the reply reaches: the person's @username. */
  to: string | null;
  formKey: string;
  limit: number;
  replies: Array<ReturnType<typeof dmReplyStatus>>;
}

export async function channelReplyView(services: Services, table: string, key: string, user: SignedInUser | undefined): Promise<ChannelReplyView | null> {
  const target = await channelReplyTarget(services.db, table, key);
  if (!target) return null;
  const store = new ChannelStore(services.db);
  const channel = await store.get(target.channelId);
  const replies = (await store.listDmRepliesOfRecord(target.channelId, key)).map(dmReplyStatus);
  const person = (await store.listEntries(target.channelId, { recordKey: key })).filter((entry) => entry.direction === 'in' && entry.personId).pop();
  const editor = Boolean(user && can(user.role, 'write-records'));
  const paused = channel?.status !== 'active';
  return {
    kind: target.kind,
    channelId: target.channelId,
    canReply: editor && !paused,
    notice: editor && paused ? `The channel is paused${channel?.pausedReason ? ` (${channel.pausedReason})` : ''}: replies wait until it is resumed.` : null,
    to: person?.authorUsername ?? null,
    formKey: crypto.randomUUID(),
    limit: target.kind === 'dm' ? MAX_DM_TEXT : MAX_TWEET_WEIGHT,
    replies,
  };
}

export function channelReplyRoutes({ services, sessions }: WebContext): express.Router {
  const router = express.Router();

  router.post('/records/:table/rows/:key/channel-replies', requirePermission('write-records'), async (req, res) => {
    const table = (await knownTableOrFail(services.db, req.params.table)).name;
    const key = String(req.params.key);
    try {
      const channelId = positiveId(raw(req, 'channel'), 'channel id');
      const reply = await queueDmReply(services, { channelId, recordKey: key, text: raw(req, 'text'), requestedBy: req.user!.username, requestKey: raw(req, 'reply_key') || null });
      await sessions.flash(req, 'success', reply.created
        ? 'Reply queued: it goes with the account\'s next run, and its state shows beside it.'
        : 'This reply had already been sent from this form: no second one was made.');
      res.redirect(303, `${recordPage(table, key)}#channel-reply-${reply.id}`);
    } catch (error) {
      if (!(error instanceof UserFacingError)) throw error;
      await sessions.flash(req, 'error', `The reply was not sent: ${error.message}.`);
      res.redirect(303, recordPage(table, key));
    }
  });

  return router;
}
