import { toIso } from '../../lib/clock';
import { errorMessage } from '../../lib/errors';
import type { XTweet } from '../../twitter/x-client';
import { attachedMedia } from '../../twitter/x-media';
import { whileHoldingAccount } from '../account-lease';
import type { SyncDeps } from '../sync-deps';
import { ingestReplies } from './ingest';

/** The event types real-time replies subscribe to: direct replies and mentions of the account. */
export const REPLY_EVENT_TYPES = ['post.reply.create', 'post.mention.create'] as const;

export type ParsedEvent =
  | { kind: 'post'; eventType: string; userId: string | null; eventUuid: string | null; tweet: XTweet }
  | { kind: 'other'; eventType: string; userId: string | null; eventUuid: string | null };

const ID = /^[0-9]{1,19}$/;

/**
 * An X Activity API delivery (`{data: {event_uuid, filter: {user_id}, event_type, payload,
 * includes}}`) read into a tweet, or the words saying why it is not one.
 */
export function parseActivityEvent(body: unknown): ParsedEvent | { invalid: string } {
  const data = (body as { data?: unknown } | null)?.data as Record<string, unknown> | undefined;
  if (!data || typeof data !== 'object' || Array.isArray(data)) return { invalid: 'the body has no data object' };
  if (typeof data.event_type !== 'string') return { invalid: 'data.event_type is missing' };
  const filter = data.filter as { user_id?: unknown } | undefined;
  const userId = typeof filter?.user_id === 'string' ? filter.user_id : null;
  const eventUuid = typeof data.event_uuid === 'string' ? data.event_uuid : null;
  if (!(REPLY_EVENT_TYPES as readonly string[]).includes(data.event_type)) return { kind: 'other', eventType: data.event_type, userId, eventUuid };
  const post = data.payload as Record<string, unknown> | undefined;
  if (!post || typeof post !== 'object') return { invalid: 'data.payload is missing' };
  if (typeof post.id !== 'string' || !ID.test(post.id)) return { invalid: 'data.payload.id is not a post id' };
  if (typeof post.text !== 'string') return { invalid: 'data.payload.text is missing' };
  const str = (value: unknown) => (typeof value === 'string' ? value : null);
  const authorId = str(post.author_id);
  const users = ((data.includes as { users?: unknown } | undefined)?.users ?? []) as Array<{ id?: unknown; username?: unknown }>;
  const author = Array.isArray(users) ? users.find((user) => user && user.id === authorId) : undefined;
  const media = attachedMedia(post.attachments, (data.includes as { media?: unknown } | undefined)?.media);
  const replied = Array.isArray(post.referenced_tweets)
    ? (post.referenced_tweets as Array<{ type?: unknown; id?: unknown }>).find((ref) => ref?.type === 'replied_to')
    : undefined;
  return {
    kind: 'post',
    eventType: data.event_type,
    userId,
    eventUuid,
    tweet: {
      id: post.id,
      // A long post's whole text is in note_tweet; its text is cut near 280 characters.
      text: str((post.note_tweet as { text?: unknown } | undefined)?.text) || post.text,
      authorId,
      authorUsername: str(author?.username),
      createdAt: str(post.created_at),
      conversationId: str(post.conversation_id),
      inReplyToTweetId: str(post.in_reply_to_tweet_id) ?? str(replied?.id),
      inReplyToUserId: str(post.in_reply_to_user_id),
      ...(media.length > 0 ? { media } : {}),
    },
  };
}

// A busy account (a poll holding its lease) is asked again this often.
const BUSY_RETRY_MS = 50;
/**
 * X sends a burst (a replay, a popular post) one delivery after another, each as soon as the last
 * was answered: written as they came, each was a transaction and a lease of its own, and the
 * writing cost more than the receiving. Deliveries are gathered this long, then written together.
 */
const GATHER_MS = 50;

/**
 * Replies that came by webhook, written through the same ingestion as polled ones (one
 * transaction, unique by tweet id) under the account's lease, so a record's response field never
 * has two writers. Deliveries are answered before they are written (X wants a quick answer);
 * they wait here, per account, and a crash loses only what the backstop poll or a replay brings back.
 */
export class WebhookIngestion {
  private readonly queues = new Map<number, XTweet[]>();
  private readonly draining = new Map<number, Promise<void>>();
  /** Events accepted and not yet added to the account's count (events today, the last one's time). */
  private readonly uncounted = new Map<number, number>();
  private stopped = false;

  constructor(private readonly deps: SyncDeps) {}

  accept(accountId: number, tweets: XTweet[]): void {
    if (this.stopped) return;
    const queue = this.queues.get(accountId);
    if (queue) queue.push(...tweets);
    else this.queues.set(accountId, [...tweets]);
    this.uncounted.set(accountId, (this.uncounted.get(accountId) ?? 0) + tweets.length);
    if (!this.draining.has(accountId)) {
      const run = this.drain(accountId).finally(() => this.draining.delete(accountId));
      this.draining.set(accountId, run);
    }
  }

  /** Resolves when everything accepted so far has been written (or given up with the process). */
  async idle(): Promise<void> {
    while (this.draining.size > 0) await Promise.all([...this.draining.values()]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.idle();
  }

  private async countAccepted(accountId: number): Promise<void> {
    const count = this.uncounted.get(accountId) ?? 0;
    if (count === 0 || !this.deps.accountWebhooks) return;
    this.uncounted.delete(accountId);
    await this.deps.accountWebhooks.countEvents(accountId, count, toIso(this.deps.clock.now()));
  }

  private async drain(accountId: number): Promise<void> {
    const log = this.deps.logger.child({ accountId });
    // A real moment, whatever the sync clock: a test's clock may stand still.
    if (!this.stopped) await new Promise((resolve) => setTimeout(resolve, GATHER_MS));
    // What was accepted is written, also when the process is stopping (stop() waits for it).
    for (;;) {
      const tweets = this.queues.get(accountId) ?? [];
      if (tweets.length === 0) return;
      this.queues.delete(accountId);
      // A count that cannot be written is only a figure on the status page: the replies still go in.
      await this.countAccepted(accountId).catch((error) => log.warn('webhook events could not be counted', { error: errorMessage(error) }));
      try {
        const held = await whileHoldingAccount(this.deps, accountId, async () => {
          const account = await this.deps.accounts.get(accountId);
          if (!account) return null;
          return ingestReplies(this.deps, account, await this.deps.integrations.listForAccount(accountId), tweets);
        });
        if (!held.held) {
          // Stopping, and another worker holds the account: the backstop poll reads these.
          if (this.stopped) return;
          this.queues.set(accountId, [...tweets, ...(this.queues.get(accountId) ?? [])]);
          await this.deps.clock.sleep(BUSY_RETRY_MS);
          continue;
        }
        // At debug: under a burst each delivery may be a batch of its own, and a line each would cost more than the write.
        if (held.value) log.debug('webhook replies ingested', { tweets: tweets.length, ...held.value });
      } catch (error) {
        // Left to the backstop poll, which reads from the cursor these never moved.
        log.error('webhook replies could not be written; the backstop poll will read them', { tweets: tweets.length, error: errorMessage(error) });
      }
    }
  }
}
