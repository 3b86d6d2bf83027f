import crypto from 'node:crypto';
import { errorMessage } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import { CHANGE_AREAS, type ChangeArea, type ChangeMarkStore, type ChangeMarks } from '../../store/change-marks';
import type { LiveHub, PokeKind } from './live-hub';

/** What changed: the areas whose marks moved ('kb': a record written by this process), and the new version. */
export interface LiveChange {
  areas: ReadonlySet<ChangeArea | 'kb'>;
  version: string;
}

const MIN_GAP_MS = 100;

export type ChangeListener = (change: LiveChange) => void;

/** An opaque token of the marks: pages and streams compare it, nobody reads ids out of it. */
export function versionOf(marks: ChangeMarks): string {
  return crypto.createHash('sha256').update(JSON.stringify(marks)).digest('base64url').slice(0, 16);
}

/**
 * Finds changes made by any process on the same database: it reads the high-water marks every
 * `intervalMs` while at least one page listens, and at once when this process pokes the hub.
 * With nobody listening it reads nothing. One loop, never overlapping itself; a failed read is
 * logged and the next one still comes.
 */
export class ChangeWatcher {
  private readonly listeners = new Set<ChangeListener>();
  private last: ChangeMarks | null = null;
  private running = false;
  private wakeUp: (() => void) | null = null;
  private poked = false;
  private kbPoked = false;
  private failing = false;
  private stopped = false;
  private loopDone: Promise<void> = Promise.resolve();

  constructor(
    private readonly marks: ChangeMarkStore,
    hub: LiveHub,
    private readonly options: { intervalMs: number; logger: Logger },
  ) {
    hub.onPoke((kind: PokeKind) => {
      if (this.listeners.size === 0) return;
      if (kind === 'kb') this.kbPoked = true;
      this.poked = true;
      this.wakeUp?.();
    });
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  /** The current version, read now (for a page being rendered or a stream being opened). */
  async currentVersion(): Promise<string> {
    return versionOf(await this.marks.read());
  }

  subscribe(listener: ChangeListener): () => void {
    if (this.stopped) return () => undefined;
    this.listeners.add(listener);
    if (!this.running) this.loopDone = this.loop();
    return () => { this.listeners.delete(listener); this.wakeUp?.(); };
  }

  /** Stops looking (at shutdown, before the database closes), once the look under way is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.listeners.clear();
    this.wakeUp?.();
    await this.loopDone;
  }

  private async loop(): Promise<void> {
    this.running = true;
    this.last = null;
    try {
      while (this.listeners.size > 0) {
        this.poked = false;
        await this.check();
        if (this.listeners.size === 0) break;
        // A burst of writes (a poll applying fifty replies) is looked at a few times, not fifty.
        const gap = Math.min(MIN_GAP_MS, this.options.intervalMs);
        await new Promise((resolve) => setTimeout(resolve, gap).unref());
        if (this.listeners.size === 0) break;
        if (!this.poked) await this.sleep(this.options.intervalMs - gap);
      }
    } finally {
      this.running = false;
      this.wakeUp = null;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      function done() { clearTimeout(timer); resolve(); }
      this.wakeUp = done;
    });
  }

  private async check(): Promise<void> {
    let marks: ChangeMarks;
    try {
      marks = await this.marks.read();
      if (this.failing) this.options.logger.info('live pages: the change check works again');
      this.failing = false;
    } catch (error) {
      if (!this.failing) this.options.logger.warn('live pages: the change check failed; retrying', { error: errorMessage(error) });
      this.failing = true;
      return;
    }
    const previous = this.last;
    this.last = marks;
    const areas = new Set<ChangeArea | 'kb'>(previous ? CHANGE_AREAS.filter((area) => previous[area] !== marks[area]) : []);
    if (this.kbPoked) areas.add('kb');
    this.kbPoked = false;
    if (areas.size === 0) return;
    const change: LiveChange = { areas, version: versionOf(marks) };
    for (const listener of [...this.listeners]) {
      try {
        listener(change);
      } catch (error) {
        this.options.logger.error('live pages: a listener failed', { error: errorMessage(error) });
      }
    }
  }
}
