import crypto from 'node:crypto';
import express from 'express';
import type { Services } from '../../app';
import { NotFoundError, UserFacingError, ValidationError } from '../../lib/errors';
import type { Account } from '../../store/accounts';
import { AgentReplyStore, TalkbackSettingsStore, type AgentReply } from '../../store/agent-replies';
import type { Integration } from '../../store/integrations';
import type { Publication } from '../../store/publications';
import { queueAgentReply, replySignatureFor } from '../../sync/outbound/agent-replies';
import { MAX_TWEET_WEIGHT } from '../../twitter/weighted-length';
import type { WebContext } from '../context';
import { checked, positiveId, raw } from '../forms';
import { knownTableOrFail } from '../kb-tables';
import { can, requirePermission } from '../middleware/auth';
import type { SignedInUser } from '../types';
import { viewHelpers } from '../view-helpers';

// Talking back from the record: the reply boxes' data for the record page, their form, the
// states the page follows, the integration's two switches and the user's display name.

const recordPage = (table: string, key: string) => `/records/${encodeURIComponent(table)}/rows/${encodeURIComponent(key)}`;

/** A reply as people read it: "sending", "sent" with its link, "failed" with the reason. */
export function replyStatus(reply: AgentReply, account: Account | undefined) {
  const open = reply.state === 'pending' || reply.state === 'sending';
  return {
    id: reply.id,
    state: reply.state,
    shown: open ? 'sending' : reply.state,
    words: reply.state === 'sent' ? 'sent' : reply.state === 'failed' ? `failed: ${reply.reason ?? 'no reason given'}`
      : reply.reason ? `sending (${reply.reason})` : 'sending: the daemon posts it now',
    tweet_id: reply.tweetId,
    tweet_href: reply.tweetId ? viewHelpers.tweetHref(account, reply.tweetId) : null,
    in_reply_to_tweet_id: reply.inReplyToTweetId,
    text: reply.text,
    written_by: reply.username,
    created_at: reply.createdAt,
    sent_at: reply.sentAt,
  };
}

/** What the record page needs for one integration's reply boxes. */
export interface TalkbackView {
  /** The boxes are shown (an editor, an active integration, a tweet on X); else why not, or null for viewers. */
  canReply: boolean;
  notice: string | null;
  suffix: string;
  limit: number;
  formKey: string;
  replies: Array<ReturnType<typeof replyStatus>>;
}

export async function talkbackView(
  services: Services, integration: Integration, account: Account | undefined, publication: Publication | undefined, user: SignedInUser | undefined, recordKey: string,
): Promise<TalkbackView> {
  const replies = (await new AgentReplyStore(services.db).listForRecord(integration.id, recordKey)).map((reply) => replyStatus(reply, account));
  const view: TalkbackView = { canReply: false, notice: null, suffix: '', limit: MAX_TWEET_WEIGHT, formKey: crypto.randomUUID(), replies };
  if (!user || !can(user.role, 'write-records')) return view;
  if (!publication?.tweetId) return view;
  if (integration.status !== 'active') {
    view.notice = `Replies from the record wait for the integration: it is paused${integration.pausedReason ? ` (${integration.pausedReason})` : ''}.`;
    return view;
  }
  view.suffix = (await replySignatureFor(services, integration, user)).suffix;
  view.canReply = true;
  return view;
}

/** The request asks for JSON (the page's script), not a page. */
const wantsJson = (req: express.Request) => req.accepts(['html', 'json']) === 'json';

export function agentReplyRoutes({ services, sessions }: WebContext): express.Router {
  const router = express.Router();

  router.post('/records/:table/rows/:key/replies', requirePermission('write-records'), async (req, res) => {
    const table = (await knownTableOrFail(services.db, req.params.table)).name;
    const key = String(req.params.key);
    try {
      const integration = await services.integrations.get(positiveId(raw(req, 'integration'), 'integration id'));
      if (!integration || integration.tableName !== table) throw new NotFoundError(`no integration ${raw(req, 'integration')} maps table '${table}'`);
      const { reply, created } = await queueAgentReply(services, {
        integrationId: integration.id, recordKey: key, text: raw(req, 'text'), inReplyToTweetId: raw(req, 'in_reply_to') || null,
        userId: req.user!.id, idempotencyKey: raw(req, 'reply_key'),
      });
      const account = await services.accounts.get(integration.accountId);
      if (wantsJson(req)) return res.status(202).json({ ...replyStatus(reply, account), created });
      await sessions.flash(req, 'success', created
        ? `Reply queued for integration ${integration.id}: it is being sent, and its state shows beside it.`
        : 'This reply had already been sent from this form (or the same text to the same tweet is on its way): no second reply was made.');
      res.redirect(303, `${recordPage(table, key)}#agent-reply-${reply.id}`);
    } catch (error) {
      if (!(error instanceof UserFacingError)) throw error;
      if (wantsJson(req)) return res.status(error.status).json({ error: error.message, field: error.field ?? null });
      await sessions.flash(req, 'error', `The reply was not sent: ${error.message}.`);
      res.redirect(303, recordPage(table, key));
    }
  });

  /** The states the record page follows while a reply is on its way. */
  router.get('/records/:table/rows/:key/replies', async (req, res) => {
    const table = (await knownTableOrFail(services.db, req.params.table)).name;
    const key = String(req.params.key);
    res.json({ replies: await listRecordReplies(services, table, key) });
  });

  router.get('/integrations/:id/replies', requirePermission('admin'), async (req, res) => {
    const integration = await services.integrations.get(positiveId(req.params.id, 'integration id'));
    if (!integration) throw new NotFoundError(`Integration ${req.params.id} does not exist.`);
    res.render('integrations/replies', { title: `Replies from the record · integration ${integration.id}`, integration, switches: await new TalkbackSettingsStore(services.db).switches(integration.id) });
  });

  router.post('/integrations/:id/replies', requirePermission('admin'), async (req, res) => {
    const integration = await services.integrations.get(positiveId(req.params.id, 'integration id'));
    if (!integration) throw new NotFoundError(`Integration ${req.params.id} does not exist.`);
    const switches = { agentInitials: checked(req, 'agentInitials'), dmDeepLink: checked(req, 'dmDeepLink') };
    await new TalkbackSettingsStore(services.db).setSwitches(integration.id, switches);
    await sessions.flash(req, 'success', `Integration ${integration.id}: replies from the record ${switches.agentInitials ? 'are signed with the agent\'s initials' : 'carry no initials'} and ${switches.dmDeepLink ? 'carry the DM link' : 'carry no DM link'}.`);
    res.redirect(303, `/integrations/${integration.id}/replies`);
  });

  router.post('/me/display-name', async (req, res) => {
    const name = raw(req, 'displayName').trim();
    if (name.length > 100 || /[\u0000-\u001f]/.test(name)) {
      await sessions.flash(req, 'error', 'A display name is at most 100 characters, without control characters; it was not changed.');
      return res.redirect(303, '/me');
    }
    await new TalkbackSettingsStore(services.db).setDisplayName(req.user!.id, name === '' ? null : name);
    await sessions.flash(req, 'success', name === '' ? 'Your display name was removed: initials come from your username.' : `Your display name is now ${name}.`);
    res.redirect(303, '/me');
  });

  return router;
}

/** A record's replies from every integration on its table, with their states (the page and the JSON API). */
export async function listRecordReplies(services: Services, table: string, key: string) {
  const integrations = (await services.integrations.list()).filter((integration) => integration.tableName === table);
  const store = new AgentReplyStore(services.db);
  const listed = [];
  for (const integration of integrations) {
    const account = await services.accounts.get(integration.accountId);
    for (const reply of await store.listForRecord(integration.id, key)) listed.push({ integration_id: integration.id, ...replyStatus(reply, account) });
  }
  return listed;
}


/**
 * The JSON API's replies: `POST /api/v1/tables/:table/records/:key/replies` with
 * `{"text", "in_reply_to_tweet_id"?, "integration_id"?}` (an `Idempotency-Key` header makes a
 * retry find its reply) answers 202 with the reply's id and state; `GET` lists the record's
 * replies with their states. Mounted on the API router, behind its token check.
 */
export function addAgentReplyApi(services: Services, router: express.Router): void {
  router.get('/tables/:table/records/:key/replies', async (req, res) => {
    const table = (await knownTableOrFail(services.db, req.params.table)).name;
    res.json({ table, key: req.params.key, replies: await listRecordReplies(services, table, String(req.params.key)) });
  });

  router.post('/tables/:table/records/:key/replies', async (req, res) => {
    if (!can(req.user?.role, 'write-records')) throw new UserFacingError('forbidden', 'this token belongs to a viewer; replying from a record needs an editor or admin, and nothing was sent', { status: 403 });
    const table = (await knownTableOrFail(services.db, req.params.table)).name;
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (typeof body !== 'object' || Array.isArray(body)) throw new ValidationError('send {"text": "…", "in_reply_to_tweet_id": "…"} as a JSON object');
    const unknown = Object.keys(body).filter((name) => !['text', 'in_reply_to_tweet_id', 'integration_id'].includes(name));
    if (unknown.length > 0) throw new ValidationError(`a reply takes text, in_reply_to_tweet_id and integration_id, not ${unknown.join(', ')}`);
    if (body.in_reply_to_tweet_id !== undefined && body.in_reply_to_tweet_id !== null && !(typeof body.in_reply_to_tweet_id === 'string' && /^\d{1,19}$/.test(body.in_reply_to_tweet_id))) {
      throw new ValidationError('in_reply_to_tweet_id must be a tweet id as a string of digits', 'in_reply_to_tweet_id');
    }
    const integrations = (await services.integrations.list()).filter((integration) => integration.tableName === table);
    const integration = body.integration_id === undefined
      ? (integrations.length === 1 ? integrations[0] : null)
      : integrations.find((candidate) => candidate.id === body.integration_id) ?? null;
    if (!integration) {
      throw new ValidationError(integrations.length === 0 ? `no integration maps table '${table}', so its records have no tweets to answer`
        : body.integration_id === undefined ? `table '${table}' is mapped by integrations ${integrations.map((each) => each.id).join(', ')}: say which with integration_id`
          : `integration ${String(body.integration_id)} does not map table '${table}'`, 'integration_id');
    }
    const { reply, created } = await queueAgentReply(services, {
      integrationId: integration.id, recordKey: String(req.params.key), text: body.text, inReplyToTweetId: (body.in_reply_to_tweet_id as string | undefined) ?? null,
      userId: req.user!.id, idempotencyKey: req.get('idempotency-key') ?? crypto.randomUUID(),
    });
    res.status(202).json({ integration_id: integration.id, ...replyStatus(reply, await services.accounts.get(integration.accountId)), created });
  });
}
