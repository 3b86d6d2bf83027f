import type { Knex } from 'knex';

const TABLE = 'kbts_unreadable_windows';

/** Why a window could not be read; the words are in `unreadableReasonText`. */
export type UnreadableReason = 'mentions_beyond_reach';

export interface UnreadableWindow {
  id: number;
  accountId: number;
  /** ISO-8601 UTC: replies posted between these times may be missing from the records. */
  from: string;
  to: string;
  reason: UnreadableReason;
  /** In words, for the dashboard and the command line. */
  reasonText: string;
  foundAt: string;
}

interface WindowRow {
  id: number;
  account_id: number;
  from_at: string;
  to_at: string;
  reason: UnreadableReason;
  found_at: string;
  dismissed_at: string | null;
  dismissed_by: string | null;
}

export function unreadableReasonText(reason: UnreadableReason): string {
  switch (reason) {
    case 'mentions_beyond_reach':
      return 'more than 800 mentions arrived since the last read (X serves only the 800 newest), and X\'s search covers only the last 7 days';
  }
}

function toWindow(row: WindowRow): UnreadableWindow {
  return {
    id: row.id,
    accountId: row.account_id,
    from: row.from_at,
    to: row.to_at,
    reason: row.reason,
    reasonText: unreadableReasonText(row.reason),
    foundAt: row.found_at,
  };
}

/** The only SQL for kbts_unreadable_windows. */
export class UnreadableWindowStore {
  constructor(private readonly db: Knex) {}

  with(db: Knex): UnreadableWindowStore {
    return new UnreadableWindowStore(db);
  }

  /** Notes a window; the same account and start again (a retried read) widens the one row. */
  async note(window: { accountId: number; from: string; to: string; reason: UnreadableReason }, now: string): Promise<void> {
    await this.db(TABLE)
      .insert({ account_id: window.accountId, from_at: window.from, to_at: window.to, reason: window.reason, found_at: now })
      .onConflict(['account_id', 'from_at'])
      .merge(['to_at']);
  }

  /** The windows not yet dismissed, oldest first; of some accounts only, when given. */
  async listOpen(accountIds?: number[]): Promise<UnreadableWindow[]> {
    const query = this.db<WindowRow>(TABLE).whereNull('dismissed_at').orderBy([{ column: 'from_at' }, { column: 'id' }]);
    if (accountIds) query.whereIn('account_id', accountIds);
    return (await query).map(toWindow);
  }

  /** An admin has seen the window: it is no longer listed. False when it is unknown or dismissed already. */
  async dismiss(id: number, by: string, now: string): Promise<boolean> {
    const changed = await this.db(TABLE).where({ id }).whereNull('dismissed_at').update({ dismissed_at: now, dismissed_by: by });
    return changed > 0;
  }
}
