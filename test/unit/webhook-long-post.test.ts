import assert from 'node:assert/strict';
import { parseActivityEvent } from '../../src/sync/inbound/webhook-events';

describe('a long reply delivered by webhook', () => {
  const event = (payload: Record<string, unknown>) => ({
    data: { event_uuid: 'e1', event_type: 'post.reply.create', filter: { user_id: '1' }, payload: { id: '42', author_id: '7', ...payload }, includes: {} },
  });

  it('takes the whole text from note_tweet, not the text X cut near 280 characters', () => {
    const whole = 'long '.repeat(100).trim();
    const parsed = parseActivityEvent(event({ text: whole.slice(0, 280), note_tweet: { text: whole } }));
    assert.ok('kind' in parsed && parsed.kind === 'post');
    assert.equal(parsed.tweet.text, whole);
  });

  it('takes the text as it is when there is no note_tweet', () => {
    const parsed = parseActivityEvent(event({ text: 'short' }));
    assert.ok('kind' in parsed && parsed.kind === 'post');
    assert.equal(parsed.tweet.text, 'short');
  });
});
