import { blankProblem, invalidRequest, PROBLEM_BASE, XApiProblem, type XResponse } from './problems';
import { parseReplayDate, WebhookRefusal, type SubscriptionRecord, type WebhookRecord } from './webhooks';
import { Params, parseJsonBody, requirePathId, type Context, type Route } from './x-api-routes';

/**
 * /2/webhooks and /2/activity/subscriptions, with the shapes of the OpenAPI description. The
 * description asks for an app (bearer) token on some of these; the emulator takes the OAuth 1.0a
 * user token it takes everywhere, which names the app by its consumer key.
 */

// The OpenAPI description (2.167) lists these; X's Activity API documentation adds post.reply.create.
const EVENT_TYPES = [
  'post.reply.create',
  'profile.update.bio', 'profile.update.profile_picture', 'profile.update.banner_picture', 'profile.update.screenname',
  'profile.update.geo', 'profile.update.url', 'profile.update.verified_badge', 'profile.update.affiliate_badge',
  'profile.update.handle', 'news.new', 'follow.follow', 'follow.unfollow', 'spaces.start', 'spaces.end', 'chat.received',
  'chat.sent', 'chat.conversation_join', 'dm.sent', 'dm.received', 'dm.indicate_typing', 'dm.read', 'post.create',
  'post.delete', 'post.mention.create', 'like.create', 'mute.mute', 'mute.unmute', 'block.block', 'block.unblock',
];
const ID_PATTERN = /^[0-9]{1,19}$/;

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function renderWebhook(webhook: WebhookRecord): Record<string, unknown> {
  return { id: webhook.id, url: webhook.url, valid: webhook.valid, created_at: iso(webhook.createdAtMs) };
}

function renderSubscription(sub: SubscriptionRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {
    subscription_id: sub.id, event_type: sub.eventType, filter: { ...sub.filter }, created_at: iso(sub.createdAtMs), updated_at: iso(sub.updatedAtMs),
  };
  if (sub.tag !== undefined) out.tag = sub.tag;
  if (sub.webhookId !== undefined) out.webhook_id = sub.webhookId;
  return out;
}

function notFound(resourceType: string, id: string, detail = `Could not find ${resourceType} with id: [${id}].`): XResponse {
  return {
    status: 404,
    body: { type: `${PROBLEM_BASE}resource-not-found`, title: 'Not Found Error', detail, resource_type: resourceType, resource_id: id, parameter: 'id', value: id, status: 404 },
  };
}

function refused(error: unknown): never {
  if (!(error instanceof WebhookRefusal)) throw error;
  if (error.status === 404) throw new XApiProblem(notFound('webhook', '', error.message));
  if (error.status === 409) throw new XApiProblem(blankProblem(409, error.message, 'Conflict'));
  throw new XApiProblem(invalidRequest([{ message: error.message }]));
}

function jsonObject(ctx: Context): Record<string, unknown> {
  const body = parseJsonBody(ctx);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new XApiProblem(invalidRequest([{ message: '$: expected type: JSONObject' }]));
  return body as Record<string, unknown>;
}

function onlyKeys(value: Record<string, unknown>, allowed: readonly string[], where: string): void {
  const extra = Object.keys(value).filter((key) => !allowed.includes(key));
  if (extra.length > 0) throw new XApiProblem(invalidRequest(extra.map((key) => ({ message: `${where}.${key}: is not defined in the schema and the schema does not allow additional properties` }))));
}

function listWebhooks(ctx: Context): XResponse {
  const p = new Params(ctx.query, ['webhook_config.fields']);
  p.list('webhook_config.fields', ['created_at', 'id', 'url', 'valid']);
  p.done();
  const data = ctx.state.webhooks.listWebhooks(ctx.consumerKey).map(renderWebhook);
  return { status: 200, body: { data, meta: { result_count: data.length } } };
}

async function createWebhook(ctx: Context): Promise<XResponse> {
  new Params(ctx.query, []).done();
  const body = jsonObject(ctx);
  onlyKeys(body, ['url'], '$');
  try {
    return { status: 200, body: { data: renderWebhook(await ctx.state.webhooks.createWebhook(ctx.consumerKey, body.url)) } };
  } catch (error) {
    refused(error);
  }
}

async function validateWebhook(ctx: Context): Promise<XResponse> {
  new Params(ctx.query, []).done();
  const id = requirePathId(ctx.pathParams[0], 'webhook_id');
  const webhook = ctx.state.webhooks.getWebhook(ctx.consumerKey, id);
  if (!webhook) return notFound('webhook', id);
  return { status: 200, body: { data: { valid: await ctx.state.webhooks.validateWebhook(webhook) } } };
}

function deleteWebhook(ctx: Context): XResponse {
  new Params(ctx.query, []).done();
  const id = requirePathId(ctx.pathParams[0], 'webhook_id');
  if (!ctx.state.webhooks.deleteWebhook(ctx.consumerKey, id)) return notFound('webhook', id);
  return { status: 200, body: { data: { deleted: true } } };
}

function replay(ctx: Context): XResponse {
  new Params(ctx.query, []).done();
  const body = jsonObject(ctx);
  onlyKeys(body, ['webhook_id', 'from_date', 'to_date'], '$');
  const errors: Array<{ message: string }> = [];
  if (typeof body.webhook_id !== 'string' || !ID_PATTERN.test(body.webhook_id)) errors.push({ message: '$.webhook_id: must be a string of 1 to 19 digits' });
  const from = parseReplayDate(body.from_date);
  const to = parseReplayDate(body.to_date);
  if (from === null) errors.push({ message: '$.from_date: must be a UTC time as yyyymmddhhmm' });
  if (to === null) errors.push({ message: '$.to_date: must be a UTC time as yyyymmddhhmm' });
  if (errors.length > 0) throw new XApiProblem(invalidRequest(errors));
  try {
    const job = ctx.state.webhooks.replay(ctx.consumerKey, body.webhook_id as string, from as number, to as number);
    return { status: 200, body: { data: { job_id: job.jobId, created_at: iso(job.createdAtMs) } } };
  } catch (error) {
    refused(error);
  }
}

function listSubscriptions(ctx: Context): XResponse {
  const p = new Params(ctx.query, ['max_results', 'pagination_token']);
  const max = p.int('max_results', 1, 1000, 1000);
  p.done();
  const data = ctx.state.webhooks.listSubscriptions(ctx.consumerKey).slice(0, max).map(renderSubscription);
  return { status: 200, body: { data, meta: { result_count: data.length } } };
}

function createSubscription(ctx: Context): XResponse {
  new Params(ctx.query, []).done();
  const body = jsonObject(ctx);
  onlyKeys(body, ['event_type', 'filter', 'tag', 'webhook_id'], '$');
  const errors: Array<{ message: string }> = [];
  if (typeof body.event_type !== 'string' || !EVENT_TYPES.includes(body.event_type)) errors.push({ message: `$.event_type: must be one of ${EVENT_TYPES.join(', ')}` });
  const filter = body.filter as Record<string, unknown> | undefined;
  if (!filter || typeof filter !== 'object' || Array.isArray(filter)) errors.push({ message: '$.filter: is required and must be an object' });
  else {
    onlyKeys(filter, ['direction', 'keyword', 'user_id'], '$.filter');
    if (filter.user_id !== undefined && (typeof filter.user_id !== 'string' || !ID_PATTERN.test(filter.user_id))) errors.push({ message: '$.filter.user_id: must be a string of 1 to 19 digits' });
    if (typeof body.event_type === 'string' && body.event_type.startsWith('post.') && filter.user_id === undefined) errors.push({ message: '$.filter.user_id: is required for post events' });
    if (typeof filter.user_id === 'string' && ID_PATTERN.test(filter.user_id) && !ctx.state.getUser(filter.user_id)) errors.push({ message: `$.filter.user_id: no user ${filter.user_id}` });
  }
  if (body.tag !== undefined && (typeof body.tag !== 'string' || body.tag.length < 1 || body.tag.length > 200)) errors.push({ message: '$.tag: must be 1 to 200 characters' });
  if (body.webhook_id !== undefined && (typeof body.webhook_id !== 'string' || !ID_PATTERN.test(body.webhook_id))) errors.push({ message: '$.webhook_id: must be a string of 1 to 19 digits' });
  if (errors.length > 0) throw new XApiProblem(invalidRequest(errors));
  try {
    const sub = ctx.state.webhooks.createSubscription(ctx.consumerKey, {
      eventType: body.event_type as string,
      userId: filter?.user_id as string | undefined,
      tag: body.tag as string | undefined,
      webhookId: body.webhook_id as string | undefined,
    });
    return { status: 200, body: { data: { subscription: renderSubscription(sub) } } };
  } catch (error) {
    refused(error);
  }
}

function deleteSubscription(ctx: Context): XResponse {
  new Params(ctx.query, []).done();
  const id = requirePathId(ctx.pathParams[0], 'subscription_id');
  if (!ctx.state.webhooks.deleteSubscription(ctx.consumerKey, id)) return notFound('subscription', id);
  return { status: 200, body: { data: { deleted: true } } };
}

export const WEBHOOK_ROUTES: Route[] = [
  { method: 'GET', key: 'GET /2/webhooks', pattern: /^\/2\/webhooks\/?$/, access: 'self', handle: listWebhooks },
  { method: 'POST', key: 'POST /2/webhooks', pattern: /^\/2\/webhooks\/?$/, access: 'self', handle: createWebhook },
  { method: 'POST', key: 'POST /2/webhooks/replay', pattern: /^\/2\/webhooks\/replay\/?$/, access: 'self', handle: replay },
  { method: 'PUT', key: 'PUT /2/webhooks/:id', pattern: /^\/2\/webhooks\/([^/]+)\/?$/, access: 'self', handle: validateWebhook },
  { method: 'DELETE', key: 'DELETE /2/webhooks/:id', pattern: /^\/2\/webhooks\/([^/]+)\/?$/, access: 'self', handle: deleteWebhook },
  { method: 'GET', key: 'GET /2/activity/subscriptions', pattern: /^\/2\/activity\/subscriptions\/?$/, access: 'self', handle: listSubscriptions },
  { method: 'POST', key: 'POST /2/activity/subscriptions', pattern: /^\/2\/activity\/subscriptions\/?$/, access: 'self', handle: createSubscription },
  { method: 'DELETE', key: 'DELETE /2/activity/subscriptions/:id', pattern: /^\/2\/activity\/subscriptions\/([^/]+)\/?$/, access: 'self', handle: deleteSubscription },
];
