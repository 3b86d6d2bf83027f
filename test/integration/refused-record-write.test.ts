import assert from 'node:assert/strict';
import { createArticlesWorld, describeEachDatabase, type TestEnv } from '../support/test-env';

describeEachDatabase('a record that refuses the write of its replies', (database) => {
  let world: TestEnv;

  beforeEach(async () => {
    ({ world } = await createArticlesWorld(database));
  });
  afterEach(async () => world.close());

  const pollOnce = () => world.pollOnce();

  it('keeps its replies in the log, not applied, with the reason, and still writes the other records', async () => {
    for (const title of ['a', 'b', 'c']) await world.sql('INSERT INTO articles (title, tweet_text, keep_going) VALUES (?, ?, ?)', [title, `Article ${title}`, 'Yes']);
    await pollOnce();
    // The KB's own rule, refusing any change to record 2.
    if (database === 'postgres') {
      await world.sql(`CREATE FUNCTION refuse_record_2() RETURNS trigger AS $$
        BEGIN IF NEW.id = 2 THEN RAISE EXCEPTION 'record 2 is locked'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`);
      await world.sql('CREATE TRIGGER refuse_record_2 BEFORE UPDATE ON articles FOR EACH ROW EXECUTE FUNCTION refuse_record_2()');
    } else {
      await world.sql("CREATE TRIGGER refuse_record_2 BEFORE UPDATE ON articles WHEN NEW.id = 2 BEGIN SELECT RAISE(ABORT, 'record 2 is locked'); END");
    }
    const tweets = await world.tweetsBy('kb_news');
    for (const tweet of tweets) {
      await world.replyAs('alice', tweet.id, `first on ${tweet.text}`);
      await world.replyAs('bob', tweet.id, `second on ${tweet.text}`);
    }
    const summary = await pollOnce();
    assert.equal(summary.replies_applied, 4);
    assert.equal(summary.replies_logged, 2);
    const rows = await world.sql('SELECT id, replies FROM articles ORDER BY id');
    assert.match(rows[0].replies, /@alice: first on Article a\n.*@bob: second on Article a$/);
    assert.equal(rows[1].replies, null);
    assert.match(rows[2].replies, /@alice: first on Article c\n.*@bob: second on Article c$/);
    const refused = await world.sql("SELECT applied, not_applied_reason FROM kbts_communications WHERE direction = 'in' AND record_key = '2'");
    assert.equal(refused.length, 2);
    for (const entry of refused) {
      assert.equal(Boolean(entry.applied), false);
      assert.match(entry.not_applied_reason, /^not written: the record could not be written \(.*record 2 is locked/s);
    }
  });
});
