import assert from 'node:assert/strict';
import { createArticlesWorld, describeEachDatabase, type TestEnv } from '../support/test-env';

// The batch writes of kbts_publications (a statement per row on SQLite, one per batch on
// PostgreSQL) keep the claim's rule: a record moved since it was read is not this worker's.
describeEachDatabase('claiming records for their post', (database) => {
  let world: TestEnv;
  let integrationId: number;

  beforeEach(async () => {
    ({ world, integrationId } = await createArticlesWorld(database));
    for (let i = 1; i <= 3; i++) await world.sql('INSERT INTO articles (title, tweet_text, keep_going) VALUES (?, ?, ?)', [`t${i}`, `Article ${i}`, 'Yes']);
  });
  afterEach(async () => world.close());

  it('claims only the records still as they were read, and marks the posted ones sent with their own tweet ids', async () => {
    const { publications } = await world.services();
    // A minute after the test's clock, so the records just inserted are due; each step a second later.
    const start = (await world.emulatorNow()).plus({ minutes: 1 });
    const at = (seconds: number) => start.plus({ seconds }).toISO() as string;
    const read = await publications.listDue(integrationId, at(0), 10);
    assert.equal(read.length, 3);
    // Another worker claims the second record after this one read it.
    const taken = await publications.beginAttempts([{ publication: read[1], parts: ['Article 2'] }], at(1));
    assert.deepEqual([...taken], [read[1].id]);

    const ours = await publications.beginAttempts(read.map((publication, i) => ({ publication, parts: [`Article ${i + 1}`] })), at(2));
    assert.deepEqual([...ours].sort(), [read[0].id, read[2].id].sort());
    const claimed = await publications.get(read[0].id);
    assert.deepEqual(
      [claimed?.state, claimed?.attempts, claimed?.plannedParts, claimed?.attemptStartedAt, claimed?.updatedAt],
      ['sending', 1, ['Article 1'], at(2), at(2)],
    );
    const other = await publications.get(read[1].id);
    assert.deepEqual([other?.attempts, other?.attemptStartedAt], [1, at(1)], 'the other worker\'s claim is left as it made it');

    await publications.markSentMany([
      { id: read[0].id, tweetId: '1001', at: at(3) },
      { id: read[2].id, tweetId: '1003', at: at(4) },
    ]);
    const sent = await Promise.all([read[0].id, read[2].id].map((id) => publications.get(id)));
    assert.deepEqual(
      sent.map((publication) => [publication?.state, publication?.tweetId, publication?.sentAt, publication?.reason, publication?.nextAttemptAt]),
      [['sent', '1001', at(3), null, null], ['sent', '1003', at(4), null, null]],
    );
    assert.equal((await publications.get(read[1].id))?.state, 'sending');
  });
});
