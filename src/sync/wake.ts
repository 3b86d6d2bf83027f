import { EventEmitter } from 'node:events';

/**
 * In-process "something changed" signals, so parts of one process can react at once without
 * knowing each other: the web form and JSON API say a table got records (the publisher wakes),
 * the publisher says an integration's publications moved (pages may refresh). Across processes the
 * database carries the news instead (PRAGMA data_version on SQLite, LISTEN/NOTIFY on PostgreSQL);
 * a signal lost here is caught by the publisher's sweep, so listeners must treat signals as hints.
 */
export interface SyncSignalEvents {
  /** Records were inserted (or made due again) in a KB table, by this process, after the commit. */
  recordsChanged: [table: string];
  /** An integration's publications changed state (tweets went out, records failed or were skipped). */
  publicationsChanged: [integrationId: number];
}

export class SyncSignals {
  private readonly emitter = new EventEmitter<SyncSignalEvents>();

  constructor() {
    // Every page subscriber is a listener; the default warning at 10 would be noise.
    this.emitter.setMaxListeners(0);
  }

  recordsChanged(table: string): void {
    this.emit('recordsChanged', table);
  }

  publicationsChanged(integrationId: number): void {
    this.emit('publicationsChanged', integrationId);
  }

  /** Subscribes; returns the unsubscribe function. */
  on<E extends keyof SyncSignalEvents>(event: E, listener: (...args: SyncSignalEvents[E]) => void): () => void {
    this.emitter.on(event, listener as never);
    return () => { this.emitter.off(event, listener as never); };
  }

  private emit<E extends keyof SyncSignalEvents>(event: E, ...args: SyncSignalEvents[E]): void {
    // A listener's failure is its own: the writer that signalled has already committed.
    for (const listener of this.emitter.listeners(event)) {
      try {
        (listener as (...given: SyncSignalEvents[E]) => void)(...args);
      } catch {
        // Listeners log their own problems; a signal is only a hint.
      }
    }
  }
}
