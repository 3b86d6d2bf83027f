import { SnowflakeGenerator } from './snowflake';
import { EmulatorInputError } from './state';

/**
 * The emulator's direct messages: one-to-one conversations, kept 30 days as X keeps them, and
 * which users' apps lack the "Direct Messages" permission. A new message is handed to the
 * webhook hub as a `dm.received` event for its recipient.
 */

export interface DmEventRecord {
  id: string;
  text: string;
  senderId: string;
  recipientId: string;
  conversationId: string;
  createdAtMs: number;
  /** Media keys of an attachment (one per message at most). */
  mediaKeys?: string[];
}

export interface DmUser {
  id: string;
  username: string;
  name: string;
}

export interface DirectMessagesDeps {
  now(): number;
  /** The user by username (made on the fly for an invented one), or a refusal in words. */
  ensureUser(username: string): DmUser;
  getUser(id: string): DmUser | undefined;
  /** Tells the webhook hub: X delivers `dm.received` to the recipient's subscriptions. */
  delivered(event: DmEventRecord, sender: DmUser): void;
}

/** The control API's view of a message. */
export interface ControlDm {
  id: string;
  text: string;
  sender_id: string;
  sender_username: string;
  recipient_id: string;
  dm_conversation_id: string;
  created_at: string;
  media_keys?: string[];
}

// X keeps direct messages for reading through GET /2/dm_events for 30 days.
export const DM_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;
// X's limit on a direct message's text.
export const MAX_DM_LENGTH = 10_000;

/** X's id of a one-to-one conversation: the two user ids, smaller first, joined by a dash. */
export function oneToOneConversationId(a: string, b: string): string {
  return BigInt(a) < BigInt(b) ? `${a}-${b}` : `${b}-${a}`;
}

export class DirectMessages {
  private ids = new SnowflakeGenerator();
  private events: DmEventRecord[] = [];
  private withoutPermission = new Set<string>();

  constructor(private readonly deps: DirectMessagesDeps) {}

  /** Whether the user's app may read and send direct messages (X's "Read, Write and Direct Messages"). */
  allowed(userId: string): boolean {
    return !this.withoutPermission.has(userId);
  }

  setPermission(username: string, allowed: unknown): void {
    if (typeof allowed !== 'boolean') throw new EmulatorInputError(400, 'allowed must be true or false');
    const user = this.deps.ensureUser(username);
    if (allowed) this.withoutPermission.delete(user.id);
    else this.withoutPermission.add(user.id);
  }

  /** A message from one user to another; `mediaOnly` acts out a photo sent without text. */
  send(senderId: string, recipientId: string, text: string, options: { mediaKeys?: string[]; createdAtMs?: number } = {}): DmEventRecord {
    const now = this.deps.now();
    const event: DmEventRecord = {
      id: this.ids.next(now),
      text,
      senderId,
      recipientId,
      conversationId: oneToOneConversationId(senderId, recipientId),
      createdAtMs: options.createdAtMs ?? now,
    };
    if (options.mediaKeys && options.mediaKeys.length > 0) event.mediaKeys = options.mediaKeys;
    this.events.push(event);
    const sender = this.deps.getUser(senderId) as DmUser;
    this.deps.delivered(event, sender);
    return event;
  }

  /** The control API: an invented (or known) user writes to the account. */
  sendAs(input: { as?: unknown; to?: unknown; text?: unknown; media?: unknown; created_at?: unknown }): ControlDm {
    if (typeof input.as !== 'string') throw new EmulatorInputError(400, '`as` must be the username of the sender');
    if (typeof input.to !== 'string') throw new EmulatorInputError(400, '`to` must be the username of the recipient');
    if (input.text !== undefined && typeof input.text !== 'string') throw new EmulatorInputError(400, 'text must be a string');
    const text = (input.text as string | undefined) ?? '';
    const media = input.media === true;
    if (text === '' && !media) throw new EmulatorInputError(400, 'a message needs text, or media: true');
    if (text.length > MAX_DM_LENGTH) throw new EmulatorInputError(400, `a direct message holds at most ${MAX_DM_LENGTH} characters`);
    let createdAtMs: number | undefined;
    if (input.created_at !== undefined) {
      createdAtMs = typeof input.created_at === 'string' ? Date.parse(input.created_at) : NaN;
      if (Number.isNaN(createdAtMs)) throw new EmulatorInputError(400, 'created_at must be an ISO-8601 timestamp');
    }
    const sender = this.deps.ensureUser(input.as);
    const recipient = this.deps.ensureUser(input.to);
    if (sender.id === recipient.id) throw new EmulatorInputError(400, 'a user cannot write to themselves');
    const mediaKeys = media ? [`3_${this.ids.next(this.deps.now())}`] : undefined;
    return this.toControl(this.send(sender.id, recipient.id, text, { mediaKeys, createdAtMs }));
  }

  /** The user's messages, sent and received, newest first, within X's 30 days. */
  eventsOf(userId: string): DmEventRecord[] {
    const horizon = this.deps.now() - DM_RETENTION_MS;
    const out: DmEventRecord[] = [];
    for (let i = this.events.length - 1; i >= 0; i -= 1) {
      const event = this.events[i];
      if ((event.senderId === userId || event.recipientId === userId) && event.createdAtMs >= horizon) out.push(event);
    }
    return out;
  }

  list(username?: string): ControlDm[] {
    if (username === undefined) return this.events.map((event) => this.toControl(event));
    const user = this.deps.ensureUser(username);
    return this.eventsOf(user.id).reverse().map((event) => this.toControl(event));
  }

  toControl(event: DmEventRecord): ControlDm {
    const view: ControlDm = {
      id: event.id,
      text: event.text,
      sender_id: event.senderId,
      sender_username: this.deps.getUser(event.senderId)?.username ?? '',
      recipient_id: event.recipientId,
      dm_conversation_id: event.conversationId,
      created_at: new Date(event.createdAtMs).toISOString(),
    };
    if (event.mediaKeys) view.media_keys = [...event.mediaKeys];
    return view;
  }

  reset(): void {
    this.ids = new SnowflakeGenerator();
    this.events = [];
    this.withoutPermission.clear();
  }
}
