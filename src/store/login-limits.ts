import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { RateLimiterPostgres, RateLimiterSQLite, RateLimiterRes, type RateLimiterStoreAbstract } from 'rate-limiter-flexible';
import { isPostgres } from '../db/dialect';

/** The table the migration 20261201000100 makes, in the shape rate-limiter-flexible reads and writes. */
export const LOGIN_LIMITS_TABLE = 'kbts_login_limits';

export interface LoginLimits {
  /** Sign-ins for one username from one address that are checked without waiting, per window. */
  freePerPair: number;
  /** The same for an address, whatever the usernames (a guesser spraying many names). */
  freePerAddress: number;
  /** How long attempts are remembered after the last one. */
  windowSeconds: number;
  /** The first wait once the free attempts are used; it doubles with each further attempt… */
  firstDelaySeconds: number;
  /** …up to this: correct credentials are always let through within this long. */
  maxDelaySeconds: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = {
  freePerPair: 5,
  freePerAddress: 50,
  windowSeconds: 15 * 60,
  firstDelaySeconds: 1,
  maxDelaySeconds: 60,
};

export type Admission = { allowed: true; ticket: AttemptTicket } | { allowed: false; retryAfterSeconds: number };

/** What `succeeded` needs to forget an attempt that turned out to be the right password. */
export interface AttemptTicket {
  pairKey: string;
  /** Null for an attempt from a known device, which the address's limit does not count. */
  addressKey: string | null;
}

/**
 * Failed sign-ins limited per username and address, and more widely per address, with counters
 * in the database (rate-limiter-flexible's PostgreSQL or SQLite store on knex), so every worker
 * sharing the database counts the same attempts.
 *
 * Every attempt is counted before its password is checked: the counter is one atomic upsert, so
 * parallel requests cannot all slip in under the limit. Past the free attempts nothing is locked:
 * a further attempt is let through once per delay (1 s, 2 s, 4 s … at most `maxDelaySeconds`),
 * the delay's gate being taken by one atomic upsert too. So a guesser gets one password check per
 * delay, while a person with the right password waits at most `maxDelaySeconds`; other usernames
 * from the same address have counters of their own until the wide per-address limit.
 *
 * A browser that signed in as a user before carries a signed "known device" cookie for that
 * user (see auth routes): its attempts for that user are counted on their own, outside the
 * username's and the address's counters, so a guesser at the same address (or behind the same
 * proxy) cannot hold up people on browsers they have used before.
 */
export class LoginLimiter {
  private readonly pair: RateLimiterStoreAbstract;
  private readonly address: RateLimiterStoreAbstract;
  private readonly gate: RateLimiterStoreAbstract;

  constructor(private readonly db: Knex, private readonly limits: LoginLimits = DEFAULT_LOGIN_LIMITS) {
    const store = (keyPrefix: string, points: number) => {
      const options = {
        storeClient: db, storeType: 'knex', tableName: LOGIN_LIMITS_TABLE, tableCreated: true, clearExpiredByTimeout: false,
        keyPrefix, points, duration: limits.windowSeconds,
      };
      // clearExpiredByTimeout is off: its timer would outlive a closed database; see succeeded().
      return isPostgres(db) ? new RateLimiterPostgres(options) : new RateLimiterSQLite(options);
    };
    // Counters never refuse by themselves (penalty adds without a limit); the gate has one point.
    this.pair = store('pair', Number.MAX_SAFE_INTEGER);
    this.address = store('address', Number.MAX_SAFE_INTEGER);
    this.gate = store('gate', 1);
  }

  /** Counts the attempt, then says whether its password may be checked now. */
  async admit(username: string, address: string, knownDevice: string | null = null): Promise<Admission> {
    const ticket: AttemptTicket = {
      // Hashed: fixed length in the table, and no username or address stored in the clear.
      pairKey: knownDevice === null ? digest(`${username.toLowerCase()}\n${address}`) : digest(`device\n${knownDevice}\n${username.toLowerCase()}`),
      addressKey: knownDevice === null ? digest(address) : null,
    };
    const [pair, byAddress] = await Promise.all([
      this.pair.penalty(ticket.pairKey),
      ticket.addressKey === null ? null : this.address.penalty(ticket.addressKey),
    ]);
    const waits = [
      this.delayFor(pair.consumedPoints - this.limits.freePerPair),
      byAddress === null ? 0 : this.delayFor(byAddress.consumedPoints - this.limits.freePerAddress),
    ];
    for (const [index, seconds] of waits.entries()) {
      if (seconds === 0) continue;
      const key = `${index === 0 ? 'pair' : 'address'}:${index === 0 ? ticket.pairKey : ticket.addressKey}`;
      try {
        await this.gate.consume(key, 1, { customDuration: seconds });
      } catch (refused) {
        if (!(refused instanceof RateLimiterRes)) throw refused;
        return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(refused.msBeforeNext / 1000)) };
      }
    }
    return { allowed: true, ticket };
  }

  /** The right password: this username's attempts from this address are forgotten, and this one is not held against the address. */
  async succeeded(ticket: AttemptTicket): Promise<void> {
    await Promise.all([
      this.pair.delete(ticket.pairKey),
      this.gate.delete(`pair:${ticket.pairKey}`),
      ticket.addressKey === null ? null : this.address.reward(ticket.addressKey, 1),
      // Counters of names and addresses never seen again would pile up; ended ones go here.
      this.db(LOGIN_LIMITS_TABLE).where('expire', '<', Date.now()).delete(),
    ]);
  }

  /** 0 while attempts are free; then the first delay, doubling per attempt, at most the maximum. */
  private delayFor(beyondFree: number): number {
    if (beyondFree <= 0) return 0;
    return Math.min(this.limits.maxDelaySeconds, this.limits.firstDelaySeconds * 2 ** Math.min(beyondFree - 1, 30));
  }
}

function digest(value: string): string {
  return crypto.createHash('sha256').update(value).digest('hex');
}
