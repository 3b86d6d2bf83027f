import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { Clock } from '../lib/clock';
import { toIso } from '../lib/clock';

const TABLE = 'kbts_form_tokens';
/** A Back + submit a week later still finds the first submission's record. */
const KEEP_DAYS = 7;
/** A claim older than this belongs to a submission that died (a crash), so the token is free again. */
const STALE_CLAIM_SECONDS = 60;
/** How long a second submission waits for the first one to finish before giving up. */
const WAIT_FOR_FIRST_MS = 15_000;
const POLL_MS = 50;

export type FormClaim =
  /** This submission goes ahead; it must `finish` or `release` the token. */
  | { kind: 'claimed' }
  /** An earlier submission of the same form finished: show where it led. */
  | { kind: 'done'; result: string }
  /** The token is unknown (never issued, another user's, or older than a week). */
  | { kind: 'unknown' }
  /** An earlier submission is still at work after the wait. */
  | { kind: 'busy' };

/**
 * One-time form tokens in the database, shared by every worker: a rendered form carries one, and
 * of all submissions with it exactly one is let through (one conditional UPDATE decides). The others
 * wait for it and are answered with where it led, so a form submitted twice makes one thing.
 */
export class FormTokenStore {
  constructor(private readonly db: Knex, private readonly clock: Clock) {}

  async issue(purpose: string, userId: number): Promise<string> {
    const now = this.clock.now();
    const token = crypto.randomBytes(24).toString('base64url');
    await this.db(TABLE).where('created_at', '<', toIso(now.minus({ days: KEEP_DAYS }))).delete();
    await this.db(TABLE).insert({ token, purpose, user_id: userId, created_at: toIso(now), claimed_at: null, result: null });
    return token;
  }

  async claim(token: string, purpose: string, userId: number): Promise<FormClaim> {
    const deadline = Date.now() + WAIT_FOR_FIRST_MS;
    for (;;) {
      const now = this.clock.now();
      const won = await this.db(TABLE).where({ token, purpose, user_id: userId }).whereNull('result')
        .andWhere((free) => free.whereNull('claimed_at').orWhere('claimed_at', '<', toIso(now.minus({ seconds: STALE_CLAIM_SECONDS }))))
        .update({ claimed_at: toIso(now) });
      if (won === 1) return { kind: 'claimed' };
      const row = await this.db(TABLE).where({ token, purpose, user_id: userId }).first('result');
      if (!row) return { kind: 'unknown' };
      if (row.result !== null) return { kind: 'done', result: row.result };
      if (Date.now() > deadline) return { kind: 'busy' };
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /** The claimed submission made its thing: later submissions are sent to `result`. */
  async finish(token: string, result: string): Promise<void> {
    await this.db(TABLE).where({ token }).update({ result });
  }

  /** The claimed submission was refused (bad input): the same form may be corrected and sent again. */
  async release(token: string): Promise<void> {
    await this.db(TABLE).where({ token }).whereNull('result').update({ claimed_at: null });
  }
}
