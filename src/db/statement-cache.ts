import type BetterSqlite3 from 'better-sqlite3';

// Statements kept per connection: the product's repeated queries and bulk writes fit many times over.
const CACHED_STATEMENTS = 100;

/**
 * knex prepares every query anew on better-sqlite3, and at a post or a page of replies per
 * statement the preparing cost more than the running. The connection's `prepare` keeps the most
 * recently used statements by their SQL. knex only calls `all` and `run`, which finish before
 * they return, so one statement is never in use twice at once; SQLite itself re-prepares a
 * kept statement after a schema change.
 */
export function cachePreparedStatements(connection: BetterSqlite3.Database): void {
  const prepare = connection.prepare.bind(connection);
  const kept = new Map<string, BetterSqlite3.Statement>();
  connection.prepare = ((sql: string) => {
    let statement = kept.get(sql);
    if (statement) {
      kept.delete(sql); // to the end: the least recently used goes first
    } else {
      statement = prepare(sql);
      if (kept.size >= CACHED_STATEMENTS) kept.delete(kept.keys().next().value as string);
    }
    kept.set(sql, statement);
    return statement;
  }) as typeof connection.prepare;
}
