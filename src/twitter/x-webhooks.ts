import { ApiResponseError, type TwitterApi } from 'twitter-api-v2';
import { classifyXError, XPermanentError } from './errors';
import { createTwitterApi, type XCredentials } from './x-client-factory';

/**
 * X's webhook and Activity API calls (twitter-api-v2 1.29 has no helpers for them: its generic
 * v2.get/post/put/delete carry them). The OpenAPI description accepts an OAuth 1.0a user token
 * for registering and subscribing; X's guides also describe OAuth 2.0 user context for private
 * events. The token is chosen in `webhookApiFor` only, so another kind can be added there.
 */

export interface XWebhook {
  id: string;
  url: string;
  valid: boolean;
}

export interface XActivitySubscription {
  id: string;
  eventType: string;
  userId: string | null;
  webhookId: string | null;
}

/** The account's token for webhook calls: today its OAuth 1.0a user token. */
export type WebhookToken = { kind: 'oauth1-user'; credentials: XCredentials };

export function webhookApiFor(token: WebhookToken, apiBaseUrl: string | null): XWebhookApi {
  return new XWebhookApi(createTwitterApi(token.credentials, apiBaseUrl));
}

/** X refused a webhook call by a name of its own (CrcValidationFailed, DuplicateUrlFailed, ...). */
export class XWebhookRefusedError extends XPermanentError {
  constructor(message: string, readonly refusal: string | null, status: number) {
    super(message, { status });
  }
}

const REFUSAL_NAMES = ['CrcValidationFailed', 'UrlValidationFailed', 'DuplicateUrlFailed', 'WebhookLimitExceeded', 'DuplicateSubscription'];

function classify(error: unknown): Error {
  const classified = classifyXError(error, false);
  if (error instanceof ApiResponseError && classified instanceof XPermanentError) {
    const text = JSON.stringify(error.data ?? {});
    const refusal = REFUSAL_NAMES.find((name) => text.includes(name)) ?? null;
    return new XWebhookRefusedError(classified.message, refusal, error.code);
  }
  return classified;
}

/** yyyymmddhhmm in UTC, as the replay call takes times. */
export function replayDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace(/[-T:]/g, '');
}

interface RawSubscription {
  subscription_id: string;
  event_type: string;
  filter?: { user_id?: string };
  webhook_id?: string;
}

export class XWebhookApi {
  constructor(private readonly api: TwitterApi) {}

  private async call<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw classify(error);
    }
  }

  async listWebhooks(): Promise<XWebhook[]> {
    const body = await this.call(() => this.api.v2.get<{ data?: XWebhook[] }>('webhooks'));
    return (body.data ?? []).map(({ id, url, valid }) => ({ id, url, valid }));
  }

  /** X checks the URL with a CRC request before it answers. */
  async createWebhook(url: string): Promise<XWebhook> {
    const body = await this.call(() => this.api.v2.post<{ data: XWebhook }>('webhooks', { url }));
    return { id: body.data.id, url: body.data.url, valid: body.data.valid };
  }

  /** Has X run its CRC check again; true when the webhook passed. */
  async validateWebhook(id: string): Promise<boolean> {
    const body = await this.call(() => this.api.v2.put<{ data: { valid: boolean } }>(`webhooks/${id}`));
    return body.data.valid;
  }

  async deleteWebhook(id: string): Promise<void> {
    await this.call(() => this.api.v2.delete(`webhooks/${id}`));
  }

  async listSubscriptions(): Promise<XActivitySubscription[]> {
    const body = await this.call(() => this.api.v2.get<{ data?: RawSubscription[] }>('activity/subscriptions'));
    return (body.data ?? []).map(toSubscription);
  }

  async subscribe(eventType: string, userId: string, webhookId: string, tag: string): Promise<XActivitySubscription> {
    const body = await this.call(() => this.api.v2.post<{ data: { subscription?: RawSubscription } & Partial<RawSubscription> }>(
      'activity/subscriptions', { event_type: eventType, filter: { user_id: userId }, webhook_id: webhookId, tag },
    ));
    // The OpenAPI description nests it under `subscription`; X's guide shows it flat.
    return toSubscription(body.data.subscription ?? (body.data as RawSubscription));
  }

  async unsubscribe(id: string): Promise<void> {
    await this.call(() => this.api.v2.delete(`activity/subscriptions/${id}`));
  }

  /** Asks X to deliver again what it sent (or tried to) between the two moments, at most 24 h back. */
  async replay(webhookId: string, fromMs: number, toMs: number): Promise<string> {
    const body = await this.call(() => this.api.v2.post<{ data: { job_id: string } }>(
      'webhooks/replay', { webhook_id: webhookId, from_date: replayDate(fromMs), to_date: replayDate(toMs) },
    ));
    return body.data.job_id;
  }
}

function toSubscription(raw: RawSubscription): XActivitySubscription {
  return { id: raw.subscription_id, eventType: raw.event_type, userId: raw.filter?.user_id ?? null, webhookId: raw.webhook_id ?? null };
}
