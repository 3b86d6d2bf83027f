import { invalidRequest, oauth1Permissions, XApiProblem, type XResponse } from './problems';
import { MAX_DM_LENGTH, type DmEventRecord } from './dm-state';
import { Params, parseJsonBody, requirePathId, type Context, type Route } from './x-api-routes';

/**
 * GET /2/dm_events and POST /2/dm_conversations/with/:participant_id/messages, in the shapes of
 * the OpenAPI description. An app without the "Direct Messages" permission is refused with the
 * 403 X gives for an app's missing permission.
 */

// X's own list and the ones its documentation adds (sender_id, participant_ids, referenced_tweets).
const DM_EVENT_FIELDS = ['attachments', 'created_at', 'dm_conversation_id', 'entities', 'event_type', 'id', 'text', 'sender_id', 'participant_ids', 'referenced_tweets'];
const DM_EXPANSIONS = ['attachments.media_keys', 'participant_ids', 'referenced_posts', 'referenced_tweets.id', 'sender_id'];
const USER_FIELDS = ['created_at', 'description', 'id', 'name', 'username', 'protected', 'verified', 'profile_image_url'];
const EVENT_TYPES = ['MessageCreate', 'ParticipantsJoin', 'ParticipantsLeave'];

function encodeDmPageToken(oldestId: string): string {
  return Buffer.from(`dm-page:${oldestId}`).toString('base64url');
}

function decodeDmPageToken(token: string): bigint | undefined {
  const match = /^dm-page:([0-9]{1,19})$/.exec(Buffer.from(token, 'base64url').toString());
  return match ? BigInt(match[1]) : undefined;
}

function requireDmPermission(ctx: Context): void {
  if (!ctx.state.dms.allowed(ctx.user.id)) throw new XApiProblem(oauth1Permissions());
}

function renderDm(event: DmEventRecord, fields: Set<string>): Record<string, unknown> {
  const out: Record<string, unknown> = { id: event.id, event_type: 'MessageCreate', text: event.text };
  if (fields.has('created_at')) out.created_at = new Date(event.createdAtMs).toISOString();
  if (fields.has('sender_id')) out.sender_id = event.senderId;
  if (fields.has('dm_conversation_id')) out.dm_conversation_id = event.conversationId;
  if (fields.has('participant_ids')) out.participant_ids = [event.senderId, event.recipientId];
  if (fields.has('attachments') && event.mediaKeys) out.attachments = { media_keys: [...event.mediaKeys] };
  return out;
}

function dmEvents(ctx: Context): XResponse {
  requireDmPermission(ctx);
  const p = new Params(ctx.query, ['max_results', 'pagination_token', 'event_types', 'dm_event.fields', 'expansions', 'user.fields', 'tweet.fields', 'media.fields']);
  const maxResults = p.int('max_results', 1, 100, 100);
  const fields = p.list('dm_event.fields', DM_EVENT_FIELDS);
  const expansions = p.list('expansions', DM_EXPANSIONS);
  const userFields = p.list('user.fields', USER_FIELDS);
  const types = p.list('event_types', EVENT_TYPES);
  const token = p.get('pagination_token');
  let before: bigint | undefined;
  if (token !== undefined) {
    before = token.length >= 16 ? decodeDmPageToken(token) : undefined;
    if (before === undefined) p.fail('pagination_token', token, `The \`pagination_token\` query parameter value [${token}] is not valid`);
  }
  p.done();
  const all = types.size === 0 || types.has('MessageCreate') ? ctx.state.dms.eventsOf(ctx.user.id) : [];
  const page: DmEventRecord[] = [];
  let more = false;
  for (const event of all) {
    if (before !== undefined && BigInt(event.id) >= before) continue;
    if (page.length === maxResults) {
      more = true;
      break;
    }
    page.push(event);
  }
  const body: Record<string, unknown> = {};
  if (page.length > 0) body.data = page.map((event) => renderDm(event, fields));
  if (expansions.has('sender_id') || expansions.has('participant_ids')) {
    const ids = new Set(page.flatMap((event) => (expansions.has('participant_ids') ? [event.senderId, event.recipientId] : [event.senderId])));
    const users = [...ids].map((id) => ctx.state.getUser(id)).filter((user) => user !== undefined).map((user) => {
      const out: Record<string, unknown> = { id: user.id, name: user.name, username: user.username };
      if (userFields.has('created_at')) out.created_at = new Date(user.createdAtMs).toISOString();
      return out;
    });
    if (users.length > 0) body.includes = { users };
  }
  const meta: Record<string, unknown> = { result_count: page.length };
  if (more) meta.next_token = encodeDmPageToken(page[page.length - 1].id);
  body.meta = meta;
  return { status: 200, body };
}

function sendDm(ctx: Context): XResponse {
  new Params(ctx.query, []).done();
  const participantId = requirePathId(ctx.pathParams[0], 'participant_id');
  requireDmPermission(ctx);
  const body = parseJsonBody(ctx);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new XApiProblem(invalidRequest([{ message: '$: expected type: JSONObject' }]));
  const input = body as Record<string, unknown>;
  const errors: Array<{ message: string }> = [];
  for (const key of Object.keys(input)) {
    if (key !== 'text' && key !== 'attachments') errors.push({ message: `$.${key}: is not defined in the schema and the schema does not allow additional properties` });
  }
  const text = input.text;
  const attachments = input.attachments;
  if (text !== undefined && (typeof text !== 'string' || text.length === 0)) errors.push({ message: '$.text: must be a string of at least 1 character' });
  if (typeof text === 'string' && text.length > MAX_DM_LENGTH) errors.push({ message: `$.text: a Direct Message holds at most ${MAX_DM_LENGTH} characters` });
  if (attachments !== undefined && (!Array.isArray(attachments) || attachments.length !== 1 || typeof (attachments[0] as { media_id?: unknown })?.media_id !== 'string')) {
    errors.push({ message: '$.attachments: one attachment, {"media_id": "…"}, per message' });
  }
  if (text === undefined && attachments === undefined) errors.push({ message: '$: at least one of text, attachments is required' });
  if (errors.length > 0) throw new XApiProblem(invalidRequest(errors));
  const recipient = ctx.state.getUser(participantId);
  if (!recipient) throw new XApiProblem(invalidRequest([{ message: `participant_id ${participantId}: no such user` }]));
  if (recipient.id === ctx.user.id) throw new XApiProblem(invalidRequest([{ message: 'You cannot send a Direct Message to yourself.' }]));
  const mediaKeys = Array.isArray(attachments) ? [`3_${(attachments[0] as { media_id: string }).media_id}`] : undefined;
  const event = ctx.state.dms.send(ctx.user.id, recipient.id, typeof text === 'string' ? text : '', { mediaKeys });
  return { status: 201, body: { data: { dm_conversation_id: event.conversationId, dm_event_id: event.id } } };
}

export const DM_ROUTES: Route[] = [
  { method: 'GET', key: 'GET /2/dm_events', pattern: /^\/2\/dm_events\/?$/, access: 'read', handle: dmEvents },
  { method: 'POST', key: 'POST /2/dm_conversations/with/:id/messages', pattern: /^\/2\/dm_conversations\/with\/([^/]+)\/messages\/?$/, access: 'write', handle: sendDm },
];
