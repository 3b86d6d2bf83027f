/**
 * The in-process signal: anything in this process that has just written something a live page
 * shows calls `poke()`, and the change watcher looks at the database at once instead of at its
 * next tick. A poke carries no data; the database stays the one source of what changed, so a
 * poke from another part can never make a page show something that was not committed.
 */
export type PokeListener = (kind: PokeKind) => void;

/** `store`: the product's own tables; `kb`: a KB table (a record's fields), which the watcher cannot see by itself. */
export type PokeKind = 'store' | 'kb';

export class LiveHub {
  private readonly listeners = new Set<PokeListener>();

  poke(kind: PokeKind = 'store'): void {
    for (const listener of this.listeners) listener(kind);
  }

  onPoke(listener: PokeListener): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }
}
