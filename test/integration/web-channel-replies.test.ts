import assert from 'node:assert/strict';
import { addChannel } from '../../src/channels/channel-setup';
import { queueDmReply } from '../../src/sync/outbound/direct-messages';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { describeEachDatabase } from '../support/test-env';
import { WebWorld, type Agent } from '../support/web-world';

describeEachDatabase('web app: answering a direct-messages channel\'s record from its page', (database) => {
  let world: WebWorld;
  let editor: Agent;
  let viewer: Agent;
  let channelId: number;

  beforeEach(async () => {
    world = await WebWorld.create({ database });
    editor = await world.signIn('edith', 'editor');
    viewer = await world.signIn('vic', 'viewer');
    const { accountId } = await world.withSandboxIntegration();
    await world.services.db.schema.createTable('tickets', (table) => {
      table.increments('id').primary();
      for (const name of ['body', 'author', 'link', 'tag', 'conversation']) table.text(name);
      table.string('still_open', 10);
    });
    const deps = { db: world.services.db, accounts: world.services.accounts, integrations: world.services.integrations, clock: world.services.clock };
    ({ channel: { id: channelId } } = await addChannel(deps, {
      accountId, kind: 'dms', table: 'tickets', textField: 'body', authorField: 'author', linkField: 'link', tagField: 'tag',
      responseField: 'conversation', mode: 'append', continueField: 'still_open',
    }));
    world.sandbox.dms.sendAs({ as: 'alice', to: 'kb_web', text: 'Where is my order?' });
    await runPollCycle(world.services.sync);
  });
  afterEach(async () => world.close());

  const page = (agent: Agent) => agent.get('/records/tickets/rows/1');
  const formKey = (html: string) => (/name="reply_key" value="([^"]+)"/.exec(html) as RegExpExecArray)[1];
  const sentToAlice = () => world.sandbox.dms.list('alice').filter((dm) => dm.sender_username === 'kb_web').map((dm) => dm.text);

  it('sends the direct message once, even when the form is sent twice, and shows it sent', async () => {
    const shown = await page(editor);
    assert.match(shown.text, /Answer @alice by direct message/);
    const form = { _csrf: await world.csrf(editor), channel: String(channelId), reply_key: formKey(shown.text), text: 'It ships tomorrow.' };
    const first = await editor.post('/records/tickets/rows/1/channel-replies').type('form').send(form);
    assert.equal(first.status, 303);
    const again = await editor.post('/records/tickets/rows/1/channel-replies').type('form').send(form);
    assert.equal(again.status, 303);
    assert.match((await editor.get(again.headers.location)).text, /This reply had already been sent from this form: no second one was made/);
    await runPollCycle(world.services.sync);
    assert.deepEqual(sentToAlice(), ['It ships tomorrow.']);
    const after = await page(editor);
    assert.match(after.text, /data-channel-reply="\d+">\s*<span class="badge state-sent">sent<\/span>\s*<span class="text">It ships tomorrow\.<\/span> <span class="hint">by edith<\/span>/);
  });

  it('refuses an empty message in words beside the record, and shows a viewer no box and refuses its post', async () => {
    const shown = await page(editor);
    const empty = await editor.post('/records/tickets/rows/1/channel-replies').type('form')
      .send({ _csrf: await world.csrf(editor), channel: String(channelId), reply_key: formKey(shown.text), text: '   ' });
    assert.match((await editor.get(empty.headers.location)).text, /The reply was not sent: write the text of the message/);
    const forViewer = await page(viewer);
    assert.equal(forViewer.status, 200);
    assert.doesNotMatch(forViewer.text, /data-channel-form/);
    const refused = await viewer.post('/records/tickets/rows/1/channel-replies').type('form')
      .send({ _csrf: await world.csrf(viewer), channel: String(channelId), text: 'From a viewer' });
    assert.equal(refused.status, 403);
    await runPollCycle(world.services.sync);
    assert.deepEqual(sentToAlice(), []);
    assert.equal(Number((await world.services.db('kbts_dm_replies').count({ n: '*' }))[0].n), 0);
  });
});

describeEachDatabase('web app: answering a mentions channel\'s record publicly, from its page', (database) => {
  let world: WebWorld;
  let editor: Agent;
  let channelId: number;
  let mentionId: string;

  beforeEach(async () => {
    world = await WebWorld.create({ database });
    editor = await world.signIn('edith', 'editor');
    const { accountId } = await world.withSandboxIntegration();
    await world.services.db.schema.createTable('mentions', (table) => {
      table.increments('id').primary();
      for (const name of ['body', 'author', 'link', 'conversation']) table.text(name);
      table.string('still_open', 10);
    });
    const deps = { db: world.services.db, accounts: world.services.accounts, integrations: world.services.integrations, clock: world.services.clock };
    ({ channel: { id: channelId } } = await addChannel(deps, {
      accountId, kind: 'mentions', table: 'mentions', textField: 'body', authorField: 'author', linkField: 'link',
      responseField: 'conversation', mode: 'append', continueField: 'still_open',
    }));
    mentionId = world.sandbox.postAs({ as: 'alice', text: '@kb_web does the export keep formatting?' }).id;
    await runPollCycle(world.services.sync);
  });
  afterEach(async () => world.close());

  const repliesUnderTheMention = () => world.sandbox.listTweets({ author: 'kb_web' }).filter((tweet: { in_reply_to_tweet_id?: string }) => tweet.in_reply_to_tweet_id === mentionId);

  it('posts the reply once under the person\'s mention, even when the form is sent twice, and refuses one over 280', async () => {
    const [record] = await world.services.db('mentions').select('*');
    assert.ok(record, 'the mention became a record');
    const shown = await editor.get(`/records/mentions/rows/${record.id}`);
    assert.match(shown.text, /Reply publicly under @alice&#39;s latest post/);
    const key = (/name="reply_key" value="([^"]+)"/.exec(shown.text) as RegExpExecArray)[1];
    const form = { _csrf: await world.csrf(editor), channel: String(channelId), reply_key: key, text: '@alice Yes, it does.' };
    for (let i = 0; i < 2; i++) assert.equal((await editor.post(`/records/mentions/rows/${record.id}/channel-replies`).type('form').send(form)).status, 303);
    const long = await editor.post(`/records/mentions/rows/${record.id}/channel-replies`).type('form').send({ ...form, reply_key: 'another form', text: 'x'.repeat(290) });
    assert.match((await editor.get(long.headers.location)).text, /at most 280 weighted characters; this one has 290, shorten it by 10/);
    await runPollCycle(world.services.sync);
    const posted = repliesUnderTheMention();
    assert.deepEqual(posted.map((tweet: { text: string }) => tweet.text), ['@alice Yes, it does.']);
    assert.match((await editor.get(`/records/mentions/rows/${record.id}`)).text, /<span class="badge state-sent">sent<\/span>\s*<span class="text">@alice Yes, it does\.<\/span>/);
    // The next poll reads X again and does not post it a second time.
    await runPollCycle(world.services.sync);
    assert.equal(repliesUnderTheMention().length, 1);
  });

  it('posts it once when X created it but its answer was lost: it is found among the account\'s posts, never sent again', async () => {
    const [record] = await world.services.db('mentions').select('*');
    await queueDmReply(world.services.sync, { channelId, recordKey: String(record.id), text: '@alice Yes, it does.', requestedBy: 'test' });
    world.sandbox.addFaults([{ endpoint: 'POST /2/tweets', kind: 'lost_response', count: 1 }]);
    await runPollCycle(world.services.sync);
    assert.equal(repliesUnderTheMention().length, 1, 'X created it');
    assert.deepEqual(world.sandbox.listFaults(), [], 'and its answer was lost');
    for (let i = 0; i < 3; i++) await runPollCycle(world.services.sync);
    assert.equal(repliesUnderTheMention().length, 1, 'never posted a second time');
    assert.equal((await world.services.db('kbts_dm_replies').first('state')).state, 'sent');
  });
});
