import assert from 'node:assert/strict';
import { mentionsOutOfReach } from '../../src/twitter/limits';

const DAY_MS = 24 * 60 * 60 * 1000;
const NOW = Date.parse('2026-12-01T12:00:00Z');

describe('mentionsOutOfReach: what neither the 800 newest mentions nor 7 days of search reach', () => {
  it('is nothing when the read starts inside search\'s 7 days', () => {
    assert.equal(mentionsOutOfReach(NOW - 6 * DAY_MS, NOW - DAY_MS, NOW), null);
  });

  it('runs from the read\'s start to where search stops reaching back', () => {
    assert.deepEqual(mentionsOutOfReach(NOW - 10 * DAY_MS, NOW - DAY_MS, NOW), { fromMs: NOW - 10 * DAY_MS, toMs: NOW - 7 * DAY_MS });
  });

  it('ends at the oldest mention served when the 800 newest reach further back than search', () => {
    assert.deepEqual(mentionsOutOfReach(NOW - 30 * DAY_MS, NOW - 20 * DAY_MS, NOW), { fromMs: NOW - 30 * DAY_MS, toMs: NOW - 20 * DAY_MS });
  });

  it('is nothing when the timeline served everything back to the read\'s start', () => {
    assert.equal(mentionsOutOfReach(NOW - 30 * DAY_MS, NOW - 30 * DAY_MS, NOW), null);
  });
});
