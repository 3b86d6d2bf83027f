import type { Knex } from 'knex';
import type { AttachedMedia } from '../emulator/media';
import type { EmulatorChange, EmulatorKeeper, KeptState, KeptTweet, KeptUser } from '../emulator/state';
import type { AccessLevel } from '../emulator/state';
import { errorMessage } from '../lib/errors';
import type { Logger } from '../lib/logger';

const USERS = 'kbts_sandbox_users';
const TWEETS = 'kbts_sandbox_tweets';
// Rows per INSERT, well under SQLite's 999 bound parameters (10 columns a tweet).
const CHUNK = 90;

interface UserRow {
  id: string;
  username: string;
  name: string;
  description: string;
  created_at: string;
  revoked: boolean | number;
  access: string;
}

interface TweetRow {
  id: string;
  author_id: string;
  text: string;
  created_at: string;
  conversation_id: string;
  in_reply_to_tweet_id: string | null;
  in_reply_to_user_id: string | null;
  hidden: boolean | number;
  deleted: boolean | number;
  /** The attached media as JSON, or null. */
  media: string | null;
}

const iso = (ms: number) => new Date(ms).toISOString();

function userRow(user: KeptUser): UserRow {
  return { id: user.id, username: user.username, name: user.name, description: user.description, created_at: iso(user.createdAtMs), revoked: user.revoked, access: user.access };
}

function tweetRow(tweet: KeptTweet): Omit<TweetRow, 'deleted'> {
  return {
    id: tweet.id,
    author_id: tweet.authorId,
    text: tweet.text,
    created_at: iso(tweet.createdAtMs),
    conversation_id: tweet.conversationId,
    in_reply_to_tweet_id: tweet.inReplyToTweetId ?? null,
    in_reply_to_user_id: tweet.inReplyToUserId ?? null,
    hidden: tweet.hidden === true,
    media: tweet.media?.length ? JSON.stringify(tweet.media) : null,
  };
}

const MEDIA_TYPES = new Set(['photo', 'video', 'animated_gif']);

/** A kept tweet's media, each as the emulator made it; anything else in the column is left out rather than shown. */
function keptMedia(json: string | null): AttachedMedia[] {
  if (!json) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return [];
  }
  if (!Array.isArray(parsed)) return [];
  return parsed.filter((item): item is AttachedMedia => typeof item?.mediaKey === 'string' && MEDIA_TYPES.has(item?.type))
    .map(({ mediaKey, type, url, previewImageUrl }) => ({
      mediaKey, type, ...(typeof url === 'string' ? { url } : {}), ...(typeof previewImageUrl === 'string' ? { previewImageUrl } : {}),
    }));
}

/**
 * The server's sandbox X API kept in the product's database, written through: each change the
 * emulator records is queued, the queue is written in order (one transaction per batch of what
 * came in meanwhile), and the X call is answered once `stored()` resolves, so an answered call
 * survives a crash. A batch that fails stays queued and is written again with the next one (every
 * write is an upsert), so `stored()` resolving means everything before it is kept.
 */
export class SandboxStore implements EmulatorKeeper {
  private unsaved: EmulatorChange[] = [];
  private saving: Promise<void> = Promise.resolve();
  private scheduled = false;

  constructor(private readonly db: Knex, private readonly logger?: Logger) {}

  async load(): Promise<KeptState> {
    const users = await this.db<UserRow>(USERS).select();
    const tweets = await this.db<TweetRow>(TWEETS).select();
    let lastId: bigint | null = null;
    for (const row of [...users, ...tweets]) {
      const id = BigInt(row.id);
      if (lastId === null || id > lastId) lastId = id;
    }
    return {
      users: users.map((row) => ({
        id: row.id,
        username: row.username,
        name: row.name,
        description: row.description,
        createdAtMs: Date.parse(row.created_at),
        revoked: Boolean(row.revoked),
        access: row.access as AccessLevel,
      })),
      tweets: tweets.filter((row) => !row.deleted).map((row) => ({ row, media: keptMedia(row.media) })).map(({ row, media }) => ({
        id: row.id,
        text: row.text,
        authorId: row.author_id,
        createdAtMs: Date.parse(row.created_at),
        conversationId: row.conversation_id,
        ...(row.in_reply_to_tweet_id ? { inReplyToTweetId: row.in_reply_to_tweet_id } : {}),
        ...(row.in_reply_to_user_id ? { inReplyToUserId: row.in_reply_to_user_id } : {}),
        ...(row.hidden ? { hidden: true } : {}),
        ...(media.length ? { media } : {}),
      })),
      lastId: lastId === null ? null : lastId.toString(),
    };
  }

  record(change: EmulatorChange): void {
    this.unsaved.push(change);
    this.schedule();
  }

  stored(): Promise<void> {
    // After a failed batch nothing may be scheduled: this caller's wait writes it again.
    if (this.unsaved.length > 0) this.schedule();
    return this.saving;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.saving = this.saving.catch(() => undefined).then(() => this.saveUnsaved());
    // A change nobody waits for (a control call) must not become an unhandled rejection.
    this.saving.catch(() => undefined);
  }

  private async saveUnsaved(): Promise<void> {
    this.scheduled = false;
    const batch = this.unsaved;
    this.unsaved = [];
    if (batch.length === 0) return;
    try {
      await this.write(batch);
    } catch (error) {
      this.unsaved = [...batch, ...this.unsaved];
      this.logger?.error('the sandbox could not store its changes; they are written again with the next call', { changes: batch.length, error: errorMessage(error) });
      throw error;
    }
  }

  /** The batch folded to its last state per row (a reset first wipes the tables), in one transaction. */
  private async write(batch: EmulatorChange[]): Promise<void> {
    let wipe = false;
    let users = new Map<string, UserRow>();
    let tweets = new Map<string, Omit<TweetRow, 'deleted'> & { deleted: boolean }>();
    const deleted = new Set<string>();
    for (const change of batch) {
      if (change.kind === 'reset') {
        wipe = true;
        users = new Map();
        tweets = new Map();
        deleted.clear();
      } else if (change.kind === 'user') {
        users.set(change.user.id, userRow(change.user));
      } else if (change.kind === 'tweet') {
        tweets.set(change.tweet.id, { ...tweetRow(change.tweet), deleted: false });
        deleted.delete(change.tweet.id);
      } else {
        const row = tweets.get(change.id);
        if (row) row.deleted = true;
        else deleted.add(change.id);
      }
    }
    await this.db.transaction(async (trx) => {
      if (wipe) {
        await trx(TWEETS).delete();
        await trx(USERS).delete();
      }
      const userRows = [...users.values()];
      for (let i = 0; i < userRows.length; i += CHUNK) {
        await trx(USERS).insert(userRows.slice(i, i + CHUNK)).onConflict('id').merge();
      }
      const tweetRows = [...tweets.values()];
      for (let i = 0; i < tweetRows.length; i += CHUNK) {
        await trx(TWEETS).insert(tweetRows.slice(i, i + CHUNK)).onConflict('id').merge();
      }
      if (deleted.size > 0) await trx(TWEETS).whereIn('id', [...deleted]).update({ deleted: true });
    });
  }
}
