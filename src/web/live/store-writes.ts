import type { Knex } from 'knex';
import type { LiveHub } from './live-hub';

// The tables whose changes the live pages show; sessions, form tokens and the like are not news.
const WATCHED = /^kbts_(communications|publications|integrations|accounts)$/;
const WRITE = /^\s*(?:insert\s+into|update|delete\s+from)\s+[`"[]?([\w.]+)/i;
// COMMIT is announced before it runs; the look that follows waits this long for it to land.
const AFTER_COMMIT_MS = 30;

interface QueryEvent { sql?: string; __knexTxId?: string }

function pokeKind(sql: string | undefined): 'store' | 'kb' | null {
  const table = sql ? WRITE.exec(sql)?.[1]?.split('.').pop() : undefined;
  if (!table) return null;
  if (WATCHED.test(table)) return 'store';
  return table.startsWith('kbts_') ? null : 'kb';
}

/**
 * Pokes the hub whenever this process writes a table the live pages show, through any code path
 * (the scheduler, "Run now", the record form, the JSON API), without those parts knowing about
 * the live pages. A write inside a transaction pokes once the transaction commits.
 * Writes by other processes are the change watcher's own poll to find.
 */
export function pokeOnStoreWrites(db: Knex, hub: LiveHub): () => void {
  const pendingByTransaction = new Map<string, Set<'store' | 'kb'>>();
  const onResponse = (_response: unknown, query: QueryEvent) => {
    const kind = pokeKind(query.sql);
    if (!kind) return;
    if (query.__knexTxId) {
      const kinds = pendingByTransaction.get(query.__knexTxId) ?? new Set();
      kinds.add(kind);
      pendingByTransaction.set(query.__knexTxId, kinds);
      return;
    }
    hub.poke(kind);
  };
  const onQuery = (query: QueryEvent) => {
    if (!query.__knexTxId || !query.sql) return;
    const kinds = pendingByTransaction.get(query.__knexTxId);
    if (!kinds) return;
    // A savepoint's release pokes early (harmless: the look finds nothing new yet, the poll comes).
    if (/^\s*(COMMIT|RELEASE)\b/i.test(query.sql)) {
      pendingByTransaction.delete(query.__knexTxId);
      setTimeout(() => { for (const kind of kinds) hub.poke(kind); }, AFTER_COMMIT_MS).unref();
    } else if (/^\s*ROLLBACK\b/i.test(query.sql)) {
      pendingByTransaction.delete(query.__knexTxId);
    }
  };
  db.on('query-response', onResponse);
  db.on('query', onQuery);
  return () => {
    db.off('query-response', onResponse);
    db.off('query', onQuery);
  };
}
