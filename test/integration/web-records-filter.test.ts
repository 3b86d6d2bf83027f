import assert from 'node:assert/strict';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { flashText } from '../support/html';
import { describeEachDatabase } from '../support/test-env';
import { WebWorld, type Agent } from '../support/web-world';

describeEachDatabase('web app: records filtered by tweet state, on the page and in the API', (database) => {
  let world: WebWorld;
  let admin: Agent;
  let integrationId: number;
  let apiToken: string;

  beforeEach(async () => {
    world = await WebWorld.create({ database });
    admin = await world.signIn('ada', 'admin');
    ({ integrationId } = await world.withSandboxIntegration());
    await world.services.db('articles').insert([
      { title: 'Sent', tweet_text: 'short', keep_going: 'Yes' },
      { title: 'Failed', tweet_text: 'x'.repeat(300), keep_going: 'Yes' },
      { title: 'Skipped', tweet_text: 'held back', keep_going: 'No' },
      { title: 'Failed too', tweet_text: 'y'.repeat(300), keep_going: 'Yes' },
    ]);
    await runPollCycle(world.services.sync, { integrationId });
    const answer = await admin.post('/me/tokens').type('form').send({ _csrf: await world.csrf(admin), name: 'filter' });
    apiToken = /<code id="new-token">(kbts_[\w-]+)<\/code>/.exec(answer.text)![1];
  });
  afterEach(async () => world.close());

  const api = (query: string) => world.agent().get(`/api/v1/tables/articles/records${query}`).set('authorization', `Bearer ${apiToken}`);
  const listedTitles = (html: string) => [...html.matchAll(/<tr>\s*<td><a href="\/records\/articles\/rows\/\d+">\d+<\/a><\/td>\s*<td>([^<]*)<\/td>/g)].map((match) => match[1]);

  it('lists only the records in the chosen state, newest first, with the select showing it', async () => {
    const page = await admin.get(`/records/articles?integration=${integrationId}&state=failed`);
    assert.equal(page.status, 200);
    assert.deepEqual(listedTitles(page.text), ['Failed too', 'Failed']);
    assert.match(page.text, /<option value="failed" selected>failed<\/option>/);
    assert.match(page.text, /2 records <strong>failed<\/strong> for integration #\d+/);
    assert.deepEqual(listedTitles((await admin.get('/records/articles?state=skipped')).text), ['Skipped']);
    assert.deepEqual(listedTitles((await admin.get('/records/articles?state=')).text), ['Failed too', 'Skipped', 'Failed', 'Sent']);
  });

  it('answers an unknown state, or an integration that does not tweet the table, with 400 and a reason in words', async () => {
    const unknown = await admin.get('/records/articles?state=lost');
    assert.equal(unknown.status, 400);
    assert.match(unknown.text, /state &#39;lost&#39; is not a tweet state; use one of pending, sending, sent, failed, skipped/);
    const elsewhere = await admin.get('/records/articles?integration=99&state=failed');
    assert.equal(elsewhere.status, 400);
    assert.match(elsewhere.text, /integration &#39;99&#39; does not tweet table &#39;articles&#39;: its integrations are #\d+/);
  });

  it('links the dashboard\'s failed and skipped counts to those lists, and says a run with failures in a warning', async () => {
    const dashboard = (await admin.get('/')).text;
    assert.match(dashboard, new RegExp(`<a href="/records/articles\\?integration=${integrationId}&amp;state=failed"[^>]*><span class="count">2</span> failed</a>`));
    assert.match(dashboard, new RegExp(`<a href="/records/articles\\?integration=${integrationId}&amp;state=skipped"[^>]*><span class="count">1</span> skipped</a>`));
    await world.services.db('articles').insert([{ title: 'Fine', tweet_text: 'fits' }, { title: 'Long', tweet_text: 'z'.repeat(300) }]);
    const ran = await admin.post(`/integrations/${integrationId}/run`).type('form').send({ _csrf: await world.csrf(admin, '/') });
    assert.equal(ran.status, 303);
    const after = (await admin.get('/')).text;
    assert.match(flashText(after), /published 1, skipped 0, failed 1/);
    assert.match(after, /class="flash flash-warning"/);
  });

  it('filters the JSON API\'s records list the same way', async () => {
    const failed = await api(`?state=failed&integration=${integrationId}`);
    assert.equal(failed.status, 200);
    assert.equal(failed.body.state, 'failed');
    assert.equal(failed.body.integration_id, integrationId);
    assert.equal(failed.body.total, 2);
    assert.deepEqual(failed.body.records.map((record: { title: string }) => record.title), ['Failed too', 'Failed']);
    const paged = await api('?state=failed&limit=1&offset=1');
    assert.deepEqual(paged.body.records.map((record: { title: string }) => record.title), ['Failed']);
    assert.equal(paged.body.total, 2);
    const unknown = await api('?state=lost');
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.error, /state 'lost' is not a tweet state; use one of pending, sending, sent, failed, skipped/);
    assert.equal(unknown.body.field, 'state');
    assert.equal((await api('?state=failed&state=sent')).status, 400, 'a state given twice is refused');
    assert.equal((await api('')).body.total, 4, 'without a state, every record');
  });
});
