import assert from 'node:assert/strict';
import { conversationQueries, MAX_SEARCH_QUERY_LENGTH } from '../../src/twitter/limits';
import { compareTweetIds, maxTweetId, minTweetId, tweetIdSecondsBefore, tweetIdTimeMs } from '../../src/twitter/snowflake';

describe('conversation search queries', () => {
  it('ORs conversation ids into queries of at most 512 characters without losing any', () => {
    const ids = Array.from({ length: 40 }, (_, i) => String(1860000000000000000n + BigInt(i)));
    const queries = conversationQueries(ids);
    assert.ok(queries.length > 1);
    for (const query of queries) assert.ok(query.length <= MAX_SEARCH_QUERY_LENGTH, `${query.length} characters`);
    assert.deepEqual(queries.join(' OR ').split(' OR ').map((term) => term.replace('conversation_id:', '')), ids);
  });

  it('makes no query for no conversation', () => {
    assert.deepEqual(conversationQueries([]), []);
  });
});

describe('snowflake ids', () => {
  // 2026-12-01T12:00:00.000Z as X would encode it (ms since X's epoch, shifted above 22 bits).
  const at = Date.parse('2026-12-01T12:00:00.000Z');
  const id = ((BigInt(at) - 1288834974657n) << 22n | 12345n).toString();

  it('reads the moment X made an id', () => {
    assert.equal(tweetIdTimeMs(id), at);
  });

  it('steps an id back by a number of seconds', () => {
    assert.equal(tweetIdTimeMs(tweetIdSecondsBefore(id, 90)), at - 90_000);
  });

  it('orders ids as numbers, not as text', () => {
    assert.equal(compareTweetIds('999', '1000'), -1);
    assert.equal(maxTweetId(['999', '1000', '20']), '1000');
    assert.equal(minTweetId(['999', '1000', '20']), '20');
  });

  it('orders ids of the same length, equal ids, and ids with leading zeros as numbers', () => {
    assert.equal(compareTweetIds('1900000000000000002', '1900000000000000010'), -1);
    assert.equal(compareTweetIds('1900000000000000010', '1900000000000000002'), 1);
    assert.equal(compareTweetIds('1900000000000000002', '1900000000000000002'), 0);
    assert.equal(compareTweetIds('0999', '1000'), -1);
    assert.equal(compareTweetIds('1000', '01000'), 0);
  });
});
