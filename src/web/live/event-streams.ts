import type express from 'express';
import { errorMessage } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import type { Role } from '../../store/users';
import type { ChangeWatcher, LiveChange } from './change-watcher';

/** What one page follows: whether a change concerns it, and who may follow it. */
export interface LiveTopic {
  name: string;
  /** May a user of this role (re-read at every heartbeat) keep following? */
  allows(role: Role): boolean;
  /** Does this change alter what the page shows? Called one change at a time per stream. */
  concerns(change: LiveChange): Promise<boolean>;
}

export interface LiveStreamLimits {
  /** Streams one user may hold open at once (a browser allows 6 connections per site over HTTP/1.1). */
  maxPerUser: number;
  maxTotal: number;
  /** A comment line this often keeps proxies from closing an idle stream; the session is re-checked too. */
  heartbeatMs: number;
  /** What a browser waits before reconnecting after the stream dropped. */
  retryMs: number;
}

export const DEFAULT_STREAM_LIMITS: LiveStreamLimits = { maxPerUser: 4, maxTotal: 500, heartbeatMs: 20_000, retryMs: 3_000 };

/** The signed-in user behind a stream, looked up again at every heartbeat (signed out, or role changed). */
export type SessionCheck = (req: express.Request) => Promise<{ role: Role } | null>;

/**
 * Server-sent event streams: a small `change` event (the topic's name and an opaque version)
 * whenever something the page shows changed; the page fetches itself again, so the server's
 * templates stay the only rendering. Open streams are counted per user and closed when the
 * session ends or the client goes away.
 */
export class LiveStreams {
  private readonly perUser = new Map<number, number>();
  private total = 0;
  private readonly open = new Set<() => void>();
  private closing = false;

  constructor(
    private readonly watcher: ChangeWatcher,
    private readonly limits: LiveStreamLimits,
    private readonly checkSession: SessionCheck,
    private readonly logger: Logger,
  ) {}

  get openCount(): number {
    return this.total;
  }

  /** Ends every stream (at shutdown: browsers reconnect to the next server by themselves). */
  closeAll(): void {
    this.closing = true;
    for (const endNow of [...this.open]) endNow();
  }

  /**
   * Opens a stream for a signed-in user, or answers 429 past the caps. `since`: the version the
   * page was rendered at (or the browser's Last-Event-ID); a change since then is sent at once.
   */
  async serve(req: express.Request, res: express.Response, userId: number, topic: LiveTopic, since: string | null): Promise<void> {
    const held = this.perUser.get(userId) ?? 0;
    if (this.closing) {
      res.status(503).set('Retry-After', '5').type('text/plain').send('The server is shutting down.');
      return;
    }
    if (held >= this.limits.maxPerUser || this.total >= this.limits.maxTotal) {
      res.status(429).set('Retry-After', '60').type('text/plain')
        .send(held >= this.limits.maxPerUser
          ? `At most ${this.limits.maxPerUser} pages of one user update themselves at once; close one, or reload this page to see what changed.`
          : 'The server follows as many live pages as it can; reload this page to see what changed.');
      return;
    }
    this.perUser.set(userId, held + 1);
    this.total += 1;

    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      // no-transform: a compressing proxy would otherwise hold events back to fill its buffer.
      'Cache-Control': 'no-cache, no-transform',
      // nginx buffers proxied answers unless told not to.
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    req.socket.setNoDelay(true);
    req.socket.setKeepAlive(true);

    let closed = false;
    let queue = Promise.resolve();
    const write = (text: string) => { if (!closed) res.write(text); };
    const send = (event: string, data: unknown, id?: string) => write(`${id ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);

    const onChange = (change: LiveChange) => {
      // One question at a time per stream, in order, so a slow check never reorders events.
      queue = queue.then(async () => {
        if (closed) return;
        if (await topic.concerns(change)) send('change', { topic: topic.name }, change.version);
      }).catch((error) => this.logger.warn('live pages: a change check failed', { topic: topic.name, error: errorMessage(error) }));
    };
    const unsubscribe = this.watcher.subscribe(onChange);

    const heartbeat = setInterval(() => {
      write(': heartbeat\n\n');
      this.checkSession(req).then((session) => {
        if (closed) return;
        if (!session || !topic.allows(session.role)) {
          send('end', { reason: session ? 'not allowed' : 'signed out' });
          finish();
          res.end();
        }
      }).catch((error) => this.logger.warn('live pages: the session check failed', { error: errorMessage(error) }));
    }, this.limits.heartbeatMs);
    heartbeat.unref();

    const finish = () => {
      if (closed) return;
      closed = true;
      this.open.delete(endNow);
      clearInterval(heartbeat);
      unsubscribe();
      const left = (this.perUser.get(userId) ?? 1) - 1;
      if (left > 0) this.perUser.set(userId, left); else this.perUser.delete(userId);
      this.total -= 1;
    };
    const endNow = () => { finish(); res.end(); };
    this.open.add(endNow);
    req.on('close', finish);
    res.on('close', finish);

    write(`retry: ${this.limits.retryMs}\n\n`);
    const version = await this.watcher.currentVersion().catch(() => null);
    send('ready', { topic: topic.name }, version ?? undefined);
    // What changed between the page's rendering (or the dropped stream) and now.
    if (since && version && since !== version) send('change', { topic: topic.name }, version);
  }
}
