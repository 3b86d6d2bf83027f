import type { ITwitterApiClientPlugin } from 'twitter-api-v2';
import type { BillableUnit } from '../settings/prices';
import { classifyXError, XAccountRefusedError } from './errors';

import { containsUrl } from './url-price';

export { containsUrl };

/**
 * What one answered call is billed as: a unit, how many, and (for reads) the resources returned,
 * which X charges once per UTC day each (`kind` names the resource for that rule).
 */
export type Billable =
  | { unit: BillableUnit; count: number }
  | { unit: BillableUnit; kind: 'post' | 'user' | 'dm_event'; ids: string[] };

/** The monthly budget is reached: refused here, before the call, so X is never asked. */
export class XBudgetReachedError extends XAccountRefusedError {}

const idsOf = (data: unknown): string[] => {
  const items = Array.isArray(data) ? data : data && typeof data === 'object' ? [data] : [];
  return items.flatMap((item) => {
    const id = (item as { id?: unknown } | null)?.id;
    return typeof id === 'string' || typeof id === 'number' ? [String(id)] : [];
  });
};

const field = (source: unknown, name: string): unknown => (source && typeof source === 'object' ? (source as Record<string, unknown>)[name] : undefined);

/**
 * Classifies an answered X call by method and path (after /2/) and what X returned: reads are
 * billed per resource returned (not per call), creations per resource created. Pure.
 * Unknown and unbilled calls (webhooks, subscriptions, media status) are null.
 */
export function billableOf(method: string, path: string, request: { query: unknown; body: unknown }, response: unknown, ownUserId: string | null): Billable | null {
  const verb = method.toUpperCase();
  const data = field(response, 'data');
  const segments = path.replace(/^\/+|\/+$/g, '').split('/');
  const [first, second, third] = segments;
  if (first === 'media' && second === 'upload') {
    // Chunked uploads are billed once, when finalized; a one-shot upload has no command.
    const command = String(field(request.body, 'command') ?? field(request.query, 'command') ?? '').toUpperCase();
    const finalized = segments[3] === 'finalize' || (segments.length === 2 && (command === '' || command === 'FINALIZE'));
    return verb === 'POST' && finalized ? { unit: 'media_upload', count: 1 } : null;
  }
  if (verb === 'POST') {
    if (first === 'tweets' && segments.length === 1) {
      const text = field(request.body, 'text');
      return { unit: containsUrl(text) ? 'post_created_with_url' : 'post_created', count: 1 };
    }
    if (first === 'dm_conversations' && (segments.length === 1 || segments[segments.length - 1] === 'messages')) return { unit: 'dm_created', count: 1 };
    return null;
  }
  if (verb !== 'GET') return null;
  const ids = idsOf(data);
  if (first === 'dm_events' || (first === 'dm_conversations' && segments[segments.length - 1] === 'dm_events')) {
    return { unit: 'dm_event_read', kind: 'dm_event', ids };
  }
  if (first === 'users' && (third === 'mentions' || third === 'tweets')) {
    return { unit: ownUserId !== null && second === ownUserId ? 'owned_read' : 'post_read', kind: 'post', ids };
  }
  if (first === 'users' && (segments.length <= 2 || second === 'by')) return { unit: 'user_read', kind: 'user', ids };
  if (first === 'tweets' && (segments.length <= 2 || second === 'search')) return { unit: 'post_read', kind: 'post', ids };
  return null;
}

/** What the plugin needs of the meter, for one account. */
export interface AccountMeter {
  /** Refuses the call before it is made when the account's monthly budget is reached. */
  checkBudget(): Promise<void>;
  /** Counts what X returned. */
  count(billable: Billable): Promise<void>;
  /** X answered 402: the account's credits are used up. */
  creditsDepleted(reason: string): Promise<void>;
  /** Writes the counts held so far (they are written in batches). */
  flush(): Promise<void>;
}

/** The path after X's version ("/2/"), whatever base URL the client was redirected to. */
const apiPath = (url: URL) => url.pathname.replace(/^.*?\/2\//, '');

/**
 * The one place every X call of an account's client goes through (a twitter-api-v2 plugin): the
 * budget is checked before the call, and what X returned is counted after it, so calls added
 * anywhere (DMs, media upload) are metered without their code knowing.
 */
export function costMeterPlugin(meter: AccountMeter, ownUserId: string | null): ITwitterApiClientPlugin {
  return {
    onBeforeRequestConfig: async () => { await meter.checkBudget(); },
    onAfterRequest: async ({ url, params, response }) => {
      const billable = billableOf(params.method ?? 'GET', apiPath(url), { query: params.query, body: params.body }, response.data, ownUserId);
      if (billable) await meter.count(billable);
    },
    onResponseError: async ({ error }) => {
      if (error.code === 402) await meter.creditsDepleted(classifyXError(error, false).message);
    },
  };
}
