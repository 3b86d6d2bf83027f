import assert from 'node:assert/strict';
import { DateTime } from 'luxon';
import type { Clock } from '../../src/lib/clock';
import type { Settlement } from '../../src/sync/outbound/decide';
import { nextClaimGroup, postExactlyOnce, type OutboundChannel, type OutboundItem, type OutboundLedger, type OwnPost } from '../../src/sync/outbound/post-once';
import { XAuthError, XDuplicateError, XUnknownOutcomeError } from '../../src/twitter/errors';

/** An account's timeline in memory: each send may create its post and still fail as X's answer is lost. */
class FakeX implements OutboundChannel {
  readonly timeline: OwnPost[] = [];
  sends = 0;
  /** What each next send does, in order; then it succeeds. */
  script: Array<'lost_after_posting' | 'lost_before_posting' | 'duplicate' | 'auth'> = [];
  private next = 1;

  async send(text: string, inReplyTo: string | null): Promise<{ id: string }> {
    this.sends++;
    const action = this.script.shift();
    if (action === 'auth') throw new XAuthError('X refused the account\'s credentials (401)');
    if (action === 'duplicate') throw new XDuplicateError('duplicate content');
    if (action === 'lost_before_posting') throw new XUnknownOutcomeError('socket hang up');
    const post = { id: String(this.next++), text, inReplyToId: inReplyTo };
    this.timeline.push(post);
    if (action === 'lost_after_posting') throw new XUnknownOutcomeError('X answered without a tweet id');
    return { id: post.id };
  }

  /** Posts made at or after this index are not shown yet (X shows a new post late). */
  shownUpTo = Infinity;

  async ownPostsSince(): Promise<OwnPost[]> {
    return this.timeline.slice(0, this.shownUpTo).reverse();
  }
}

class MemoryLedger implements OutboundLedger {
  readonly logged = new Map<number, string>();
  readonly otherItemsPosts = new Set<string>();
  settled: Settlement | null = null;
  private held: Array<[number, string]> = [];

  posted(index: number, id: string): void {
    this.held.push([index, id]);
  }

  async flush(): Promise<void> {
    for (const [index, id] of this.held) this.logged.set(index, id);
    this.held = [];
  }

  async alreadyLogged(ids: string[]): Promise<Set<string>> {
    return new Set(ids.filter((id) => this.otherItemsPosts.has(id) || [...this.logged.values()].includes(id)));
  }

  async settle(settlement: Settlement): Promise<void> {
    this.settled = settlement;
  }
}

const clock: Clock = { now: () => DateTime.fromISO('2030-01-01T00:00:00.000Z'), sleep: async () => undefined };
const SETTINGS = { retryBaseMs: 1, maxAttemptsPerCycle: 3, reconcileGraceMs: 0 };
const item = (parts: string[], overrides: Partial<OutboundItem> = {}): OutboundItem => ({
  parts, replyTo: null, posted: [], outcomeWasUnknown: false, startedAt: '2030-01-01T00:00:00.000Z', unknownSince: null, ...overrides,
});

describe('posting an outbound item exactly once', () => {
  it('finds a post whose answer was lost instead of posting it again', async () => {
    const x = new FakeX();
    x.script = ['lost_after_posting'];
    const ledger = new MemoryLedger();
    assert.equal(await postExactlyOnce(item(['hello']), x, ledger, clock, SETTINGS), 'sent');
    await ledger.flush();
    assert.equal(x.timeline.length, 1);
    assert.equal(x.sends, 1);
    assert.deepEqual([...ledger.logged], [[0, '1']]);
  });

  it('posts again when the lost answer hid no post', async () => {
    const x = new FakeX();
    x.script = ['lost_before_posting', 'lost_before_posting'];
    const ledger = new MemoryLedger();
    assert.equal(await postExactlyOnce(item(['hello']), x, ledger, clock, SETTINGS), 'sent');
    assert.equal(x.timeline.length, 1);
    assert.equal(x.sends, 3);
  });

  it('leaves the item sending after the cycle\'s attempts, to be reconciled next time', async () => {
    const x = new FakeX();
    x.script = ['lost_before_posting', 'lost_before_posting', 'lost_before_posting'];
    const ledger = new MemoryLedger();
    assert.equal(await postExactlyOnce(item(['hello']), x, ledger, clock, SETTINGS), 'deferred');
    assert.equal(ledger.settled?.state, 'sending');
    assert.equal(x.timeline.length, 0);
  });

  it('posts a thread\'s parts in a chain, and a lost answer mid-thread neither repeats nor skips a part', async () => {
    const x = new FakeX();
    x.script = [undefined as never, 'lost_after_posting'];
    const ledger = new MemoryLedger();
    assert.equal(await postExactlyOnce(item(['one 1/3', 'two 2/3', 'three 3/3']), x, ledger, clock, SETTINGS), 'sent');
    assert.deepEqual(x.timeline.map((post) => [post.text, post.inReplyToId]), [['one 1/3', null], ['two 2/3', '1'], ['three 3/3', '2']]);
  });

  it('reconciles an item whose last outcome was unknown before posting anything', async () => {
    const x = new FakeX();
    x.timeline.push({ id: '41', text: 'hello &amp; welcome', inReplyToId: null });
    const ledger = new MemoryLedger();
    const result = await postExactlyOnce(item(['hello & welcome'], { outcomeWasUnknown: true }), x, ledger, clock, SETTINGS);
    assert.equal(result, 'sent');
    assert.equal(x.sends, 0, 'X\'s escaped text is the same post');
    await ledger.flush();
    assert.deepEqual([...ledger.logged], [[0, '41']]);
  });

  it('never takes another item\'s logged post with the same text for its own', async () => {
    const x = new FakeX();
    x.timeline.push({ id: '7', text: 'same words', inReplyToId: null });
    x.script = ['duplicate'];
    const ledger = new MemoryLedger();
    ledger.otherItemsPosts.add('7');
    assert.equal(await postExactlyOnce(item(['same words']), x, ledger, clock, SETTINGS), 'failed');
    assert.match(ledger.settled?.reason ?? '', /duplicate/);
  });

  it('answers the tweet an item replies to, and finds only a post answering that tweet', async () => {
    const x = new FakeX();
    x.timeline.push({ id: '5', text: 'thanks!', inReplyToId: '900' });
    x.script = ['lost_after_posting'];
    const ledger = new MemoryLedger();
    assert.equal(await postExactlyOnce(item(['thanks!'], { replyTo: '901' }), x, ledger, clock, SETTINGS), 'sent');
    assert.equal(x.timeline.at(-1)?.inReplyToId, '901');
    await ledger.flush();
    assert.deepEqual([...ledger.logged], [[0, x.timeline.at(-1)?.id]]);
  });

  it('stops on the account\'s refusal and gives the item back with nothing lost', async () => {
    const x = new FakeX();
    x.script = ['auth'];
    const ledger = new MemoryLedger();
    const result = await postExactlyOnce(item(['hello']), x, ledger, clock, SETTINGS);
    assert.deepEqual(result, { kind: 'account_refused', reason: 'X refused the account\'s credentials (401)' });
    assert.equal(ledger.settled?.state, 'pending');
  });
});

describe('posting exactly once when X shows a new post late', () => {
  const GRACE = { ...SETTINGS, reconcileGraceMs: 120_000 };
  const at = (iso: string): Clock => ({ now: () => DateTime.fromISO(iso, { zone: 'utc' }), sleep: async () => undefined });

  it('waits, saying why, instead of posting again when a lost answer\'s post is not shown yet', async () => {
    const x = new FakeX();
    x.script = ['lost_after_posting'];
    x.shownUpTo = 0;
    const ledger = new MemoryLedger();
    assert.equal(await postExactlyOnce(item(['hello']), x, ledger, at('2030-01-01T00:00:00.000Z'), GRACE), 'deferred');
    assert.equal(x.sends, 1, 'never a second post within the grace period');
    assert.equal(ledger.settled?.state, 'sending');
    assert.equal(ledger.settled?.nextAttemptAt, '2030-01-01T00:02:00.000Z');
    assert.match(ledger.settled?.reason ?? '', /answer to the post was lost.*X can show a new post late/);
  });

  it('still waits when the next attempt comes inside the grace period, then finds the post once X shows it', async () => {
    const x = new FakeX();
    x.timeline.push({ id: '9', text: 'hello', inReplyToId: null });
    x.shownUpTo = 0;
    const lost = item(['hello'], { outcomeWasUnknown: true, unknownSince: '2030-01-01T00:00:00.000Z' });
    const early = new MemoryLedger();
    assert.equal(await postExactlyOnce(lost, x, early, at('2030-01-01T00:01:00.000Z'), GRACE), 'deferred');
    assert.equal(x.sends, 0);
    x.shownUpTo = Infinity;
    const later = new MemoryLedger();
    assert.equal(await postExactlyOnce(lost, x, later, at('2030-01-01T00:02:00.000Z'), GRACE), 'sent');
    assert.equal(x.sends, 0);
    await later.flush();
    assert.deepEqual([...later.logged], [[0, '9']]);
  });

  it('posts again once the grace period has passed and the post is still not there (the lost answer hid no post)', async () => {
    const x = new FakeX();
    const lost = item(['hello'], { outcomeWasUnknown: true, unknownSince: '2030-01-01T00:00:00.000Z' });
    const ledger = new MemoryLedger();
    assert.equal(await postExactlyOnce(lost, x, ledger, at('2030-01-01T00:02:00.000Z'), GRACE), 'sent');
    assert.equal(x.sends, 1);
  });
});

describe('claiming items together', () => {
  const parts = (text: string | null) => (text === null ? null : [text]);

  it('stops a group before a text alike to one already in it, as X would show it', () => {
    const texts = ['one', 'two', 'one &amp; more', 'one & more', 'three'];
    const group = nextClaimGroup(texts, (text) => text, parts, 20);
    assert.deepEqual(group.map(({ candidate }) => candidate), ['one', 'two', 'one &amp; more']);
  });

  it('treats texts that differ only in their links as alike', () => {
    const group = nextClaimGroup(['read https://a.example/1', 'read https://b.example/2'], (text) => text, parts, 20);
    assert.equal(group.length, 1);
  });

  it('holds at most the group size of items to post, with the ones settled without a post riding along', () => {
    const candidates = ['a', null, 'b', null, 'c'];
    const group = nextClaimGroup(candidates, (text) => text, parts, 2);
    assert.deepEqual(group.map(({ candidate }) => candidate), ['a', null, 'b']);
  });

  it('plans each item once', () => {
    let plans = 0;
    nextClaimGroup(['a', 'b', 'c'], (text) => { plans++; return text; }, parts, 20);
    assert.equal(plans, 3);
  });
});
