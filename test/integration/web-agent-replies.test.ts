import assert from 'node:assert/strict';
import { insertRecord } from '../../src/kb/records';
import { describeTable } from '../../src/kb/schema';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { describeEachDatabase } from '../support/test-env';
import { WebWorld, type Agent } from '../support/web-world';

async function createToken(world: WebWorld, agent: Agent): Promise<string> {
  const answer = await agent.post('/me/tokens').type('form').send({ _csrf: await world.csrf(agent), name: 'replies' });
  return (/<code id="new-token">(kbts_[\w-]+)<\/code>/.exec(answer.text) as RegExpExecArray)[1];
}

describeEachDatabase('web app: replies from the record, the JSON API and the switches', (database) => {
  let world: WebWorld;
  let admin: Agent;
  let editor: Agent;
  let viewer: Agent;
  let integrationId: number;
  let recordTweetId: string;

  beforeEach(async () => {
    world = await WebWorld.create({ database });
    admin = await world.signIn('ada', 'admin');
    editor = await world.signIn('edith', 'editor');
    viewer = await world.signIn('vic', 'viewer');
    ({ integrationId } = await world.withSandboxIntegration({ username: 'kbdesk' }));
    const table = (await describeTable(world.services.db, 'articles'))!;
    await insertRecord(world.services.db, table, new Map([['title', 'Q'], ['tweet_text', 'Is the export ready?']]));
    await runPollCycle(world.services.sync);
    recordTweetId = (await world.services.publications.findByRecord(integrationId, '1'))!.tweetId!;
  });
  afterEach(async () => world.close());

  const api = (token: string) => ({
    post: (body: unknown, key?: string) => {
      const request = world.agent().post('/api/v1/tables/articles/records/1/replies').set('authorization', `Bearer ${token}`);
      return (key ? request.set('idempotency-key', key) : request).send(body as object);
    },
    list: () => world.agent().get('/api/v1/tables/articles/records/1/replies').set('authorization', `Bearer ${token}`),
  });

  it('queues a reply from the API with 202, posts it once on the next run, and lists it with its state', async () => {
    const calls = api(await createToken(world, editor));
    const queued = await calls.post({ text: 'Yes, next week.' }, 'script-run-7');
    assert.equal(queued.status, 202, JSON.stringify(queued.body));
    assert.deepEqual([queued.body.state, queued.body.in_reply_to_tweet_id, queued.body.created], ['pending', recordTweetId, true]);
    const retried = await calls.post({ text: 'Yes, next week.' }, 'script-run-7');
    assert.deepEqual([retried.status, retried.body.id, retried.body.created], [202, queued.body.id, false]);
    await runPollCycle(world.services.sync);
    const listed = await calls.list();
    assert.equal(listed.status, 200);
    assert.equal(listed.body.replies.length, 1);
    const [reply] = listed.body.replies;
    assert.deepEqual([reply.id, reply.state, reply.written_by], [queued.body.id, 'sent', 'edith']);
    assert.match(reply.tweet_id, /^\d+$/);
    const onX = world.sandbox.listTweets({ author: 'kbdesk' }).filter((tweet: { id: string }) => tweet.id !== recordTweetId);
    assert.equal(onX.length, 1);
    const log = await editor.get('/communications?direction=out');
    assert.match(log.text, /@kbdesk <span class="hint">\(written by edith\)<\/span>/, 'the log names who wrote it');
  });

  it('refuses bad API requests in words, with the field, and a viewer\'s token', async () => {
    const calls = api(await createToken(world, editor));
    const empty = await calls.post({ text: '  ' });
    assert.deepEqual([empty.status, empty.body.field], [400, 'text']);
    assert.match(empty.body.error, /the reply is empty/);
    const long = await calls.post({ text: 'x'.repeat(300) });
    assert.match(long.body.error, /300 of 280 weighted characters; shorten it by 20/);
    const unknownTweet = await calls.post({ text: 'Hi', in_reply_to_tweet_id: '42' });
    assert.deepEqual([unknownTweet.status, unknownTweet.body.field], [400, 'in_reply_to_tweet_id']);
    const noRecord = await world.agent().post('/api/v1/tables/articles/records/77/replies').set('authorization', `Bearer ${await createToken(world, editor)}`).send({ text: 'Hi' });
    assert.equal(noRecord.status, 404);
    const viewerCalls = api(await createToken(world, viewer));
    const refused = await viewerCalls.post({ text: 'Hi' });
    assert.equal(refused.status, 403);
    assert.match(refused.body.error, /viewer; replying from a record needs an editor or admin/);
    assert.equal((await viewerCalls.list()).status, 200, 'a viewer may read the states');
    assert.equal(Number((await world.services.db('kbts_agent_replies').count({ n: '*' }))[0].n), 0);
  });

  it('shows reply boxes to editors only, and refuses a viewer\'s form post', async () => {
    world.sandbox.postAs({ as: 'alice', text: 'And the PDF?', in_reply_to_tweet_id: recordTweetId });
    await runPollCycle(world.services.sync);
    const page = await editor.get('/records/articles/rows/1');
    assert.equal((page.text.match(/data-reply-form/g) ?? []).length, 2, 'under the record\'s tweet and under the reply');
    const seen = await viewer.get('/records/articles/rows/1');
    assert.ok(!seen.text.includes('data-reply-form'));
    const posted = await viewer.post('/records/articles/rows/1/replies').type('form')
      .send({ _csrf: await world.csrf(viewer), integration: integrationId, in_reply_to: recordTweetId, text: 'Hi', reply_key: 'k1' });
    assert.equal(posted.status, 403);
    const sent = await editor.post('/records/articles/rows/1/replies').type('form').set('accept', 'application/json')
      .send({ _csrf: await world.csrf(editor), integration: integrationId, in_reply_to: recordTweetId, text: 'Hi there', reply_key: 'k1' });
    assert.deepEqual([sent.status, sent.body.state], [202, 'pending']);
    const refused = await editor.post('/records/articles/rows/1/replies').type('form').set('accept', 'application/json')
      .send({ _csrf: await world.csrf(editor), integration: integrationId, in_reply_to: recordTweetId, text: '', reply_key: 'k2' });
    assert.deepEqual([refused.status, refused.body.field], [400, 'text']);
  });

  it('lets admins switch initials and the DM link, says the URL price beside it, and signs with the display name', async () => {
    const settings = await admin.get(`/integrations/${integrationId}/replies`);
    assert.match(settings.text, /X bills a post that carries a URL at a much higher price/);
    assert.equal((await editor.get(`/integrations/${integrationId}/replies`)).status, 403);
    await admin.post(`/integrations/${integrationId}/replies`).type('form').send({ _csrf: await world.csrf(admin), agentInitials: 'on', dmDeepLink: 'on' });
    await editor.post('/me/display-name').type('form').send({ _csrf: await world.csrf(editor), displayName: 'Edith Piaf' });
    const page = await editor.get('/records/articles/rows/1');
    const account = await world.services.accounts.get(1);
    assert.ok(page.text.includes(`data-suffix=" - E.P https://x.com/messages/compose?recipient_id=${account!.xUserId}"`), 'the counter is given what the reply will carry');
    await editor.post('/me/display-name').type('form').send({ _csrf: await world.csrf(editor), displayName: 'Edith' });
    assert.ok((await editor.get('/records/articles/rows/1')).text.includes('data-suffix=" - E. https://x.com/'));
  });
});
