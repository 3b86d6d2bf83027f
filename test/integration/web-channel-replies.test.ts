import assert from 'node:assert/strict';
import { addChannel } from '../../src/channels/channel-setup';
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
    assert.match(shown.text, /Answer by direct message/);
    const form = { _csrf: await world.csrf(editor), channel: String(channelId), reply_key: formKey(shown.text), text: 'It ships tomorrow.' };
    const first = await editor.post('/records/tickets/rows/1/dm-replies').type('form').send(form);
    assert.equal(first.status, 303);
    const again = await editor.post('/records/tickets/rows/1/dm-replies').type('form').send(form);
    assert.equal(again.status, 303);
    assert.match((await editor.get(again.headers.location)).text, /This message had already been sent from this form: no second message was made/);
    await runPollCycle(world.services.sync);
    assert.deepEqual(sentToAlice(), ['It ships tomorrow.']);
    const after = await page(editor);
    assert.match(after.text, /data-dm-reply="\d+">\s*<span class="badge state-sent">sent<\/span>\s*<span class="text">It ships tomorrow\.<\/span> <span class="hint">by edith<\/span>/);
  });

  it('refuses an empty message in words beside the record, and shows a viewer no box and refuses its post', async () => {
    const shown = await page(editor);
    const empty = await editor.post('/records/tickets/rows/1/dm-replies').type('form')
      .send({ _csrf: await world.csrf(editor), channel: String(channelId), reply_key: formKey(shown.text), text: '   ' });
    assert.match((await editor.get(empty.headers.location)).text, /The direct message was not sent: write the text of the message/);
    const forViewer = await page(viewer);
    assert.equal(forViewer.status, 200);
    assert.doesNotMatch(forViewer.text, /data-dm-form/);
    const refused = await viewer.post('/records/tickets/rows/1/dm-replies').type('form')
      .send({ _csrf: await world.csrf(viewer), channel: String(channelId), text: 'From a viewer' });
    assert.equal(refused.status, 403);
    await runPollCycle(world.services.sync);
    assert.deepEqual(sentToAlice(), []);
    assert.equal(Number((await world.services.db('kbts_dm_replies').count({ n: '*' }))[0].n), 0);
  });
});
