import type { Knex } from 'knex';
import type { Clock } from '../../lib/clock';
import type { CommunicationStore } from '../../store/communications';
import type { Integration } from '../../store/integrations';
import { applyToRecords } from './ingest';

export interface CatchUpDeps {
  db: Knex;
  communications: CommunicationStore;
  clock: Clock;
}

// The log keeps X's text unescaped; the entry formatter unescapes what it is given.
const escapeXText = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * At the resume: the replies that came in while the integration was paused are written into
 * their records, oldest first, once each, by the same step ingestion uses, so the continue
 * field (as it says now), the response mode and the field's length decide as for a new reply.
 * One transaction: the replies are taken from the held state and settled together.
 */
export async function applyRepliesHeldByPause(deps: CatchUpDeps, integration: Integration): Promise<{ applied: number; notApplied: number }> {
  if (integration.status !== 'active') return { applied: 0, notApplied: 0 };
  return deps.db.transaction(async (trx) => {
    const communications = deps.communications.with(trx);
    const held = await communications.takeHeldUntilResume(integration.id);
    if (held.length === 0) return { applied: 0, notApplied: 0 };
    const outcomes = await applyToRecords({ clock: deps.clock }, trx, held.map((reply) => ({
      tweet: {
        id: reply.tweetId,
        text: escapeXText(reply.text),
        authorId: reply.authorId,
        authorUsername: reply.authorUsername,
        createdAt: reply.tweetCreatedAt,
        conversationId: reply.conversationId,
        inReplyToTweetId: reply.inReplyToTweetId,
        inReplyToUserId: null,
      },
      publication: { id: reply.publicationId as number, recordKey: reply.recordKey },
      integration,
    })));
    let applied = 0;
    for (const [index, outcome] of outcomes.entries()) {
      if (outcome.applied) applied++;
      await communications.settleReply(held[index].id, { applied: outcome.applied, notAppliedReason: outcome.notAppliedReason });
    }
    return { applied, notApplied: held.length - applied };
  });
}
