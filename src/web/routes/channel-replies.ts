import crypto from 'node:crypto';
import express from 'express';
import type { Services } from '../../app';
import { channelReplyTarget } from '../../channels/reply-target';
import { UserFacingError } from '../../lib/errors';
import { ChannelStore, type DmReply } from '../../store/channels';
import { MAX_DM_TEXT, queueDmReply } from '../../sync/outbound/direct-messages';
import type { WebContext } from '../context';
import { positiveId, raw } from '../forms';
import { knownTableOrFail } from '../kb-tables';
import { can, requirePermission } from '../middleware/auth';
import type { SignedInUser } from '../types';

// Answering from a channel's record (issue 15): a direct message to the person whose messages a
// DM-channel record holds, queued with the form's key and sent once by the account's next run.

const recordPage = (table: string, key: string) => `/records/${encodeURIComponent(table)}/rows/${encodeURIComponent(key)}`;

/** A DM reply as people read it: "sending", "sent", or "failed" with the reason. */
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
  /** Why there is no box, for an editor: the channel paused, or a mention (answered publicly, not from here yet). */
  notice: string | null;
  formKey: string;
  limit: number;
  replies: Array<ReturnType<typeof dmReplyStatus>>;
}

export async function channelReplyView(services: Services, table: string, key: string, user: SignedInUser | undefined): Promise<ChannelReplyView | null> {
  const target = await channelReplyTarget(services.db, table, key);
  if (!target) return null;
  const channel = await new ChannelStore(services.db).get(target.channelId);
  const replies = target.kind === 'dm' ? (await new ChannelStore(services.db).listDmRepliesOfRecord(target.channelId, key)).map(dmReplyStatus) : [];
  const editor = Boolean(user && can(user.role, 'write-records'));
  const paused = channel?.status !== 'active';
  return {
    kind: target.kind,
    channelId: target.channelId,
    canReply: editor && target.kind === 'dm' && !paused,
    notice: !editor ? null
      : target.kind === 'mention' ? 'A public reply under this mention cannot be written from the page yet; answer it on X.'
        : paused ? `The channel is paused${channel?.pausedReason ? ` (${channel.pausedReason})` : ''}: messages wait until it is resumed.` : null,
    formKey: crypto.randomUUID(),
    limit: MAX_DM_TEXT,
    replies,
  };
}

export function channelReplyRoutes({ services, sessions }: WebContext): express.Router {
  const router = express.Router();

  router.post('/records/:table/rows/:key/dm-replies', requirePermission('write-records'), async (req, res) => {
    const table = (await knownTableOrFail(services.db, req.params.table)).name;
    const key = String(req.params.key);
    try {
      const channelId = positiveId(raw(req, 'channel'), 'channel id');
      const reply = await queueDmReply(services, { channelId, recordKey: key, text: raw(req, 'text'), requestedBy: req.user!.username, requestKey: raw(req, 'reply_key') || null });
      await sessions.flash(req, 'success', reply.created
        ? 'Direct message queued: it goes with the account\'s next run, and its state shows beside it.'
        : 'This message had already been sent from this form: no second message was made.');
      res.redirect(303, `${recordPage(table, key)}#dm-reply-${reply.id}`);
    } catch (error) {
      if (!(error instanceof UserFacingError)) throw error;
      await sessions.flash(req, 'error', `The direct message was not sent: ${error.message}.`);
      res.redirect(303, recordPage(table, key));
    }
  });

  return router;
}
