import type { Clock } from '../../lib/clock';
import { XApiError, XDuplicateError } from '../../twitter/errors';
import { unescapeXText } from '../response-format';
import { decideAfterError, waitForLatePost, type ItemResult, type NextStep, type OutboundPhase, type Settlement } from './decide';

/**
 * One thing the product posts exactly once — a record's tweet (one part, or a thread's parts),
 * and next an agent's reply or a DM — already claimed ("sending") with its texts fixed.
 * Its life: pending → sending → sent | failed | skipped; see DESIGN.md section 4.
 */
export interface OutboundItem {
  parts: string[];
  /** What the first part answers: null starts a conversation; a tweet id for a reply. */
  replyTo: string | null;
  /** Ids of the parts already out and logged, in order. */
  posted: string[];
  /** The last attempt's outcome is unknown: look for its post before posting again. */
  outcomeWasUnknown: boolean;
  /** When the first attempt began: bounds the search among the account's recent posts. */
  startedAt: string;
  /** With an unknown outcome: the latest moment that attempt may have posted (X may not show that post yet). */
  unknownSince: string | null;
}

export interface OwnPost {
  id: string;
  text: string;
  inReplyToId: string | null;
}

/** How one kind of item reaches X, and is found there again after a lost answer. */
export interface OutboundChannel {
  send(text: string, inReplyTo: string | null, mediaIds?: string[]): Promise<{ id: string }>;
  /**
   * What part `index` needs before its post (a record's media, uploaded): the media ids it
   * carries. Its failures are decided as "before the send": nothing was posted by them.
   */
  prepare?(index: number): Promise<string[]>;
  /** The account's own posts of this kind since a moment, for reconciliation. */
  ownPostsSince(since: string): Promise<OwnPost[]>;
}

/** Where one kind of item keeps its state and its log. */
export interface OutboundLedger {
  /** Part `index` is out (sent now, or found by reconciliation): log it; may be held until the next commit. */
  posted(index: number, id: string): void;
  /** Writes what is held: before reading X's view (or a held post looks like nobody's) and before settling. */
  flush(): Promise<void>;
  /** Of these post ids, the ones already logged: they belong to other items, maybe with the same text. */
  alreadyLogged(ids: string[]): Promise<Set<string>>;
  settle(settlement: Settlement): Promise<void>;
}

export interface PostOnceSettings {
  retryBaseMs: number;
  maxAttemptsPerCycle: number;
  /** How long after an unknown outcome a post not found may still be one X has not shown yet. */
  reconcileGraceMs: number;
}

// How far before the first attempt reconciliation looks, for clock differences with X.
const RECONCILE_SKEW_MS = 60_000;

/** X may rewrite links (t.co) and escapes &, < and >: compare what a person would read. */
export function comparableText(text: string): string {
  return unescapeXText(text).normalize('NFC').replace(/https?:\/\/\S+/g, 'URL').replace(/\s+/g, ' ').trim();
}

/**
 * The next items to claim together (moved to "sending" in one transaction): at most `size` to
 * post, and never two alike texts, because reconciliation tells unlogged posts apart by their
 * text. Items whose plan posts nothing (settled without a call) ride along. Each plan is made once.
 */
export function nextClaimGroup<T, P>(
  candidates: T[], planOf: (candidate: T) => P, partsOf: (plan: P) => string[] | null, size: number,
): Array<{ candidate: T; plan: P }> {
  const group: Array<{ candidate: T; plan: P }> = [];
  const texts = new Set<string>();
  let toPost = 0;
  for (const candidate of candidates) {
    if (toPost === size) break;
    const plan = planOf(candidate);
    const parts = partsOf(plan);
    if (parts) {
      const alike = parts.map(comparableText);
      if (alike.some((text) => texts.has(text))) break;
      for (const text of alike) texts.add(text);
      toPost++;
    }
    group.push({ candidate, plan });
  }
  return group;
}

/**
 * Posts a claimed item's remaining parts, each once. An unknown outcome is reconciled against
 * the account's own recent posts before any retry; every other failure is settled as
 * `decideAfterError` says. Errors that are not X's (the database) are thrown, the item left "sending".
 */
export async function postExactlyOnce(
  item: OutboundItem, channel: OutboundChannel, ledger: OutboundLedger, clock: Clock, settings: PostOnceSettings,
): Promise<ItemResult> {
  const posted = [...item.posted];
  const record = (id: string) => {
    ledger.posted(posted.length, id);
    posted.push(id);
  };
  const parentOf = (index: number) => (index > 0 ? posted[index - 1] : item.replyTo);

  /** Finds the next parts among the account's posts; true when at least one was found. */
  const reconcile = async (): Promise<boolean> => {
    await ledger.flush();
    const since = new Date(Date.parse(item.startedAt) - RECONCILE_SKEW_MS).toISOString();
    const own = await channel.ownPostsSince(since);
    const taken = await ledger.alreadyLogged(own.map((post) => post.id));
    let found = false;
    for (let index = posted.length; index < item.parts.length; index++) {
      const text = comparableText(item.parts[index]);
      const parent = parentOf(index);
      const match = own.find((post) => comparableText(post.text) === text
        && (parent === null || post.inReplyToId === parent) && !taken.has(post.id) && !posted.includes(post.id));
      if (!match) break;
      record(match.id);
      found = true;
    }
    return found;
  };

  let unknownSinceMs = item.outcomeWasUnknown && item.unknownSince ? Date.parse(item.unknownSince) : null;
  /** Not found, yet too soon to tell: X may show the lost post later, so the item waits rather than posts. */
  const tooSoonToTell = () => waitForLatePost(unknownSinceMs, clock.now().toMillis(), settings.reconcileGraceMs);

  let unknownAttempts = 0;
  const decide = (error: XApiError, phase: OutboundPhase): NextStep => decideAfterError(error, phase, {
    mayHavePosted: item.outcomeWasUnknown || posted.length > 0,
    unknownAttempts,
    maxAttemptsPerCycle: settings.maxAttemptsPerCycle,
    partIndex: posted.length,
    partCount: item.parts.length,
    startedAt: item.startedAt,
    nowMs: clock.now().toMillis(),
    retryBaseMs: settings.retryBaseMs,
    jitter: Math.random(),
  });
  const settle = async (settlement: Settlement): Promise<ItemResult> => {
    await ledger.flush();
    await ledger.settle(settlement);
    return settlement.result;
  };

  try {
    if (item.outcomeWasUnknown && !(await reconcile())) {
      const wait = tooSoonToTell();
      if (wait) return settle(wait);
    }
    while (posted.length < item.parts.length) {
      const index = posted.length;
      let phase: OutboundPhase = 'before_send';
      try {
        const mediaIds = channel.prepare ? await channel.prepare(index) : [];
        phase = 'post';
        const sent = await channel.send(item.parts[index], parentOf(index), mediaIds);
        record(sent.id);
        unknownAttempts = 0;
        continue;
      } catch (error) {
        if (!(error instanceof XApiError)) throw error;
        // Whatever this item's state becomes, it is written after its earlier posts.
        await ledger.flush();
        unknownAttempts++; // read only for outcomes that stay unknown
        let step = decide(error, phase);
        if (step.step === 'reconcile') {
          if (!(error instanceof XDuplicateError)) unknownSinceMs = clock.now().toMillis();
          if (await reconcile()) continue;
          const wait = tooSoonToTell();
          if (wait) return settle(wait);
          step = step.ifNotFound;
        }
        if (step.step === 'retry') {
          await clock.sleep(step.afterMs);
          continue;
        }
        if (step.step !== 'settle') throw new Error('reconciliation is never decided twice for one failure');
        return settle(step);
      }
    }
    return 'sent';
  } catch (error) {
    // Reads during reconciliation can fail too; the attempt stays unknown and is checked next time.
    if (!(error instanceof XApiError)) throw error;
    const step = decide(error, 'reconcile');
    if (step.step !== 'settle') throw new Error('a failed reconciliation always settles the item');
    return settle(step);
  }
}
