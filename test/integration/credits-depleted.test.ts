import assert from 'node:assert/strict';
import type { Services } from '../../src/app';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { articlesTable, describeEachDatabase, TestEnv } from '../support/test-env';

describeEachDatabase('X answering 402: the account\'s credits are used up', (database) => {
  let world: TestEnv;
  let services: Services;
  let integrationId: number;

  beforeEach(async () => {
    world = await TestEnv.create(database);
    await world.sql(articlesTable(world));
    const accountId = await world.addAccount(await world.createXUser('kb_paying'));
    integrationId = await world.addIntegration({
      account: String(accountId), table: 'articles', 'tweet-field': 'tweet_text', 'response-field': 'replies',
      mode: 'append', 'continue-field': 'keep_going',
    });
    services = await world.services();
  });
  afterEach(async () => world.close());

  it('pauses the account\'s integrations with the reason and keeps the record pending, then tweets it once resumed', async () => {
    await world.sql('INSERT INTO articles (title, tweet_text, keep_going) VALUES (?, ?, ?)', ['a', 'Worth paying for', 'Yes']);
    await world.control('POST', '/faults', { rules: [{ endpoint: 'POST /2/tweets', kind: 'status', status: 402, count: 1 }] });

    const refused = await runPollCycle(services.sync);
    assert.equal(refused.failed, 0, 'a 402 is not the record\'s failure');
    assert.equal(refused.published, 0);
    assert.match(refused.errors.join('\n'), /credits are used up \(402/);
    const paused = await services.integrations.get(integrationId);
    assert.equal(paused?.status, 'paused');
    assert.match(paused?.pausedReason ?? '', /add credits or raise the spending limit/);
    assert.equal((await services.publications.findByRecord(integrationId, '1'))?.state, 'pending');

    await services.integrations.resume(integrationId, new Date().toISOString());
    const resumed = await runPollCycle(services.sync);
    assert.equal(resumed.published, 1);
    assert.deepEqual((await world.tweetsBy('kb_paying')).map((tweet) => tweet.text), ['Worth paying for']);
  });
});
