import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config';
import { DEFAULT_PRICES, monthlyBudget, parsePriceTable } from '../../src/settings/prices';
import { billableOf, containsUrl } from '../../src/twitter/cost-meter-plugin';

const none = { query: {}, body: {} };

describe('what an X call is billed as (the cost meter\'s classification)', () => {
  it('bills reads per resource returned: the account\'s own mentions and posts as owned reads, others as post reads', () => {
    const page = { data: [{ id: '1', text: 'a' }, { id: '2', text: 'b' }] };
    assert.deepEqual(billableOf('GET', 'users/42/mentions', none, page, '42'), { unit: 'owned_read', kind: 'post', ids: ['1', '2'] });
    assert.deepEqual(billableOf('GET', 'users/42/tweets', none, page, '42'), { unit: 'owned_read', kind: 'post', ids: ['1', '2'] });
    assert.deepEqual(billableOf('GET', 'users/77/tweets', none, page, '42'), { unit: 'post_read', kind: 'post', ids: ['1', '2'] });
    assert.deepEqual(billableOf('GET', 'tweets/search/recent', none, { meta: { result_count: 0 } }, '42'), { unit: 'post_read', kind: 'post', ids: [] });
    assert.deepEqual(billableOf('GET', 'tweets/9', none, { data: { id: '9', text: 'x' } }, '42'), { unit: 'post_read', kind: 'post', ids: ['9'] });
    assert.deepEqual(billableOf('GET', 'users/me', none, { data: { id: '42' } }, '42'), { unit: 'user_read', kind: 'user', ids: ['42'] });
    assert.deepEqual(billableOf('GET', 'users/by/username/someone', none, { data: { id: '5' } }, '42'), { unit: 'user_read', kind: 'user', ids: ['5'] });
  });

  it('bills DM events read and DMs, posts and media uploads created', () => {
    assert.deepEqual(billableOf('GET', 'dm_events', none, { data: [{ id: 'e1' }, { id: 'e2' }] }, '42'), { unit: 'dm_event_read', kind: 'dm_event', ids: ['e1', 'e2'] });
    assert.deepEqual(billableOf('GET', 'dm_conversations/with/5/dm_events', none, { data: [{ id: 'e1' }] }, '42'), { unit: 'dm_event_read', kind: 'dm_event', ids: ['e1'] });
    assert.deepEqual(billableOf('POST', 'dm_conversations/with/5/messages', { query: {}, body: { text: 'hi' } }, { data: {} }, '42'), { unit: 'dm_created', count: 1 });
    assert.deepEqual(billableOf('POST', 'tweets', { query: {}, body: { text: 'plain' } }, { data: { id: '1' } }, '42'), { unit: 'post_created', count: 1 });
    assert.deepEqual(billableOf('POST', 'tweets', { query: {}, body: { text: 'see https://x.com/a' } }, { data: { id: '1' } }, '42'), { unit: 'post_created_with_url', count: 1 });
    assert.equal(billableOf('POST', 'media/upload', { query: {}, body: { command: 'INIT' } }, {}, '42'), null);
    assert.equal(billableOf('POST', 'media/upload', { query: {}, body: { command: 'APPEND' } }, {}, '42'), null);
    assert.deepEqual(billableOf('POST', 'media/upload', { query: {}, body: { command: 'FINALIZE' } }, {}, '42'), { unit: 'media_upload', count: 1 });
    assert.deepEqual(billableOf('POST', 'media/upload/123/finalize', none, {}, '42'), { unit: 'media_upload', count: 1 });
    assert.equal(billableOf('POST', 'media/upload/initialize', none, {}, '42'), null);
    assert.equal(billableOf('POST', 'webhooks', none, {}, '42'), null);
  });

  it('finds URLs as X does, with or without a scheme', () => {
    assert.equal(containsUrl('read example.com/page'), true);
    assert.equal(containsUrl('no link. really'), false);
    assert.equal(containsUrl('no dot, so no link: https://localhost/page'), false);
  });
});

describe('the price table and budgets refuse bad input in words', () => {
  const base = { KBTS_DATA_DIR: '/tmp/kbts-prices-test', SECRET_KEY: 'a-secret-key-of-16+' };

  it('takes X\'s list prices by default and overrides from KBTS_X_PRICES', () => {
    assert.deepEqual(loadConfig(base).xPrices, DEFAULT_PRICES);
    assert.equal(loadConfig({ ...base, KBTS_X_PRICES: '{"post_created_with_url":0.25}' }).xPrices.post_created_with_url, 0.25);
  });

  it('refuses a negative or non-numeric price, an unknown unit and text that is not JSON', () => {
    assert.throws(() => loadConfig({ ...base, KBTS_X_PRICES: '{"post_read":-1}' }), /KBTS_X_PRICES: the price of post_read must be a number of US dollars, 0 or more \(such as 0.005\), not -1/);
    assert.throws(() => loadConfig({ ...base, KBTS_X_PRICES: '{"post_read":"cheap"}' }), /the price of post_read must be a number of US dollars, 0 or more .*not "cheap"/);
    assert.throws(() => loadConfig({ ...base, KBTS_X_PRICES: '{"tweets":1}' }), /names no such unit: "tweets"; the units are owned_read/);
    assert.equal('problem' in parsePriceTable('post_read=1'), true);
  });

  it('refuses a budget of 0, a negative one or text, and takes "none" as no budget', () => {
    assert.equal(monthlyBudget.parse('25'), 25);
    assert.equal(monthlyBudget.parse('$12.50'), 12.5);
    assert.equal(monthlyBudget.parse('none'), null);
    assert.match(monthlyBudget.safeParse('0').error?.issues[0].message ?? '', /must be more than \$0/);
    assert.match(monthlyBudget.safeParse('-5').error?.issues[0].message ?? '', /must be more than \$0/);
    assert.match(monthlyBudget.safeParse('lots').error?.issues[0].message ?? '', /an amount of US dollars such as 25 or 12.50 .*not "lots"/);
  });
});
