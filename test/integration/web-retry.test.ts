import assert from 'node:assert/strict';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { addIntegration, updateIntegration } from '../../src/setup/integration-setup';
import { weightedLength } from '../../src/twitter/weighted-length';
import { flashText } from '../support/html';
import { describeEachDatabase } from '../support/test-env';
import { WebWorld, type Agent } from '../support/web-world';

const RETRY_FORM = /<form method="post" action="\/records\/articles\/rows\/1\/retry" class="inline">/;
const RETRY_FAILED = /<form method="post" action="\/integrations\/1\/retry" class="inline">/;

describeEachDatabase('web app: retrying failed and skipped records', (database) => {
  let world: WebWorld;
  let admin: Agent;
  let editor: Agent;
  let viewer: Agent;

  beforeEach(async () => {
    world = await WebWorld.create({ database });
    admin = await world.signIn('ada', 'admin');
    editor = await world.signIn('edith', 'editor');
    viewer = await world.signIn('vic', 'viewer');
    await world.withSandboxIntegration({ username: 'kb_retry' });
  });
  afterEach(async () => world.close());

  const insert = (tweetText: string, keepGoing: string) => world.services.db('articles').insert({ title: 'a record', tweet_text: tweetText, keep_going: keepGoing });
  const state = async () => (await world.services.publications.findByRecord(1, '1'))?.state;
  const retryRecord = async (agent: Agent) => agent.post('/records/articles/rows/1/retry').type('form')
    .send({ _csrf: await world.csrf(agent, '/records/articles/rows/1'), integration: '1' });

  it('lets an editor retry a skipped record from its page once its continue field says Yes; it is tweeted once', async () => {
    await insert('Maybe on X', 'maybe');
    await runPollCycle(world.services.sync);
    assert.equal(await state(), 'skipped');
    assert.match((await editor.get('/records/articles/rows/1')).text, RETRY_FORM);
    assert.doesNotMatch((await viewer.get('/records/articles/rows/1')).text, RETRY_FORM, 'viewers see no Retry button');
    assert.equal((await viewer.post('/records/articles/rows/1/retry').type('form').send({ _csrf: await world.csrf(viewer, '/records/articles/rows/1'), integration: '1' })).status, 403);
    assert.equal((await editor.post('/records/articles/rows/1/retry').type('form').send({ integration: '1' })).status, 403, 'no CSRF token, no retry');
    assert.equal(await state(), 'skipped');

    await world.services.db('articles').where({ id: 1 }).update({ keep_going: 'Yes' });
    const retried = await retryRecord(editor);
    assert.equal(retried.status, 303);
    assert.equal(retried.headers.location, '/records/articles/rows/1');
    const page = await editor.get('/records/articles/rows/1');
    assert.match(flashText(page.text), /Record 1 is pending again for integration 1: the next run tweets it/);
    assert.match(page.text, /state-pending">pending</);

    assert.equal((await runPollCycle(world.services.sync)).published, 1);
    assert.deepEqual(world.sandbox.timeline('kb_retry').tweets.map((tweet) => tweet.text), ['Maybe on X']);
    assert.doesNotMatch((await editor.get('/records/articles/rows/1')).text, RETRY_FORM, 'a sent record has no Retry button');
  });

  it('refuses a retry of a sent record in words and tweets nothing again', async () => {
    await insert('Out once', 'Yes');
    await runPollCycle(world.services.sync);
    assert.equal(await state(), 'sent');
    const refused = await retryRecord(editor);
    assert.equal(refused.status, 303);
    assert.match(flashText((await editor.get('/records/articles/rows/1')).text), /Record 1 was not retried: record '1' was already tweeted \(tweet \d+\): a record is tweeted at most once/);
    assert.equal(await state(), 'sent');
    assert.equal((await runPollCycle(world.services.sync)).published, 0);
    assert.equal(world.sandbox.timeline('kb_retry').tweets.length, 1);
  });

  it('lets an admin retry an integration\'s failed records from the dashboard; after "Run now" the long record is tweeted truncated', async () => {
    await insert('z'.repeat(300), 'Yes');
    await runPollCycle(world.services.sync);
    assert.equal(await state(), 'failed');
    await updateIntegration(world.services.integrationSetup, 1, { longTextPolicy: 'truncate' });
    const dashboard = await admin.get('/');
    assert.match(dashboard.text, RETRY_FAILED);

    const retried = await admin.post('/integrations/1/retry').type('form').send({ _csrf: await world.csrf(admin, '/') });
    assert.equal(retried.status, 303);
    const after = await admin.get('/');
    assert.match(flashText(after.text), /Integration 1: 1 failed record is pending again; the next run \(or Run now\) tries it with the current settings\./);
    assert.doesNotMatch(after.text, RETRY_FAILED, 'no failed records, no button');

    assert.equal((await admin.post('/integrations/1/run').type('form').send({ _csrf: await world.csrf(admin, '/') })).status, 303);
    const tweets = world.sandbox.timeline('kb_retry').tweets;
    assert.equal(tweets.length, 1);
    assert.ok(tweets[0].text.endsWith('…') && weightedLength(tweets[0].text) <= 280, tweets[0].text);
    assert.equal(await state(), 'sent');
  });

  it('writes the replies that came in while paused into their record when the dashboard\'s Resume is pressed', async () => {
    // A second integration on the account keeps it polled while the first is paused.
    await world.services.db.schema.createTable('notes', (table) => {
      table.increments('id');
      table.text('tweet_text');
      table.text('replies');
      table.string('keep_going', 10);
    });
    await addIntegration(world.services.integrationSetup, {
      accountId: 1, table: 'notes', tweetField: 'tweet_text', responseField: 'replies', responseMode: 'append', continueField: 'keep_going',
    });
    await insert('Talk to us', 'Yes');
    await runPollCycle(world.services.sync);
    const [tweet] = world.sandbox.timeline('kb_retry').tweets;
    assert.equal((await admin.post('/integrations/1/pause').type('form').send({ _csrf: await world.csrf(admin, '/') })).status, 303);
    const reply = await admin.post('/sandbox/accounts/1/replies').type('form')
      .send({ _csrf: await world.csrf(admin, '/sandbox/accounts/1'), inReplyTo: tweet.id, as: 'alice', text: 'said while paused' });
    assert.equal(reply.status, 303);
    // The sandbox delivers the reply by webhook; it is logged as held (the poll after finds it logged).
    await world.sandbox.webhooks.idle();
    await world.services.webhooks.ingestion.idle();
    const whilePaused = await runPollCycle(world.services.sync);
    assert.equal(whilePaused.repliesLogged, 0);
    assert.equal((await world.services.communications.list({ integrationId: 1, direction: 'in' })).length, 1);
    assert.equal((await world.services.db('articles').first()).replies, null);

    assert.equal((await admin.post('/integrations/1/resume').type('form').send({ _csrf: await world.csrf(admin, '/') })).status, 303);
    assert.match((await world.services.db('articles').first()).replies, /^\[[^\]]+\] @alice: said while paused$/);
    const [logged] = await world.services.communications.list({ integrationId: 1, direction: 'in' });
    assert.equal(logged.applied, true);
    assert.equal((await runPollCycle(world.services.sync)).repliesApplied, 0, 'written once');
    assert.match((await world.services.db('articles').first()).replies, /^\[[^\]]+\] @alice: said while paused$/);
  });
});
