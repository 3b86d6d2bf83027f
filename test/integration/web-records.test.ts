import assert from 'node:assert/strict';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { fieldBlock, fieldErrors, flashText } from '../support/html';
import { WebWorld, type Agent } from '../support/web-world';
import { describeEachDatabase } from '../support/test-env';

const SCRIPT = '<script>alert(1)</script>';

describeEachDatabase('web app: records, communications and the sandbox page', (database) => {
  let world: WebWorld;
  let admin: Agent;
  let editor: Agent;

  beforeEach(async () => {
    world = await WebWorld.create({ database });
    admin = await world.signIn('ada', 'admin');
    editor = await world.signIn('edith', 'editor');
    await world.withSandboxIntegration({ username: 'kb_records' });
  });
  afterEach(async () => world.close());

  async function createRecord(agent: Agent, fields: Record<string, string>) {
    const token = await world.csrf(agent, '/records/articles/new');
    const body: Record<string, string> = { _csrf: token };
    for (const [name, value] of Object.entries(fields)) body[`field:${name}`] = value;
    return agent.post('/records/articles').type('form').send(body);
  }

  it('shows a reply whose text is a script tag as text on the record, communications and sandbox pages', async () => {
    await createRecord(editor, { title: 'Escaping', tweet_text: 'Is this escaped?' });
    await runPollCycle(world.services.sync);
    const [tweet] = world.sandbox.timeline('kb_records').tweets;
    const token = await world.csrf(admin, '/sandbox/accounts/1');
    const posted = await admin.post('/sandbox/accounts/1/replies').type('form').send({ _csrf: token, inReplyTo: tweet.id, as: 'mallory', text: SCRIPT });
    assert.equal(posted.status, 303);
    // The sandbox delivers the reply by webhook (real-time replies); a poll after it writes nothing more.
    await world.sandbox.webhooks.idle();
    await world.services.webhooks.ingestion.idle();
    const counts = await runPollCycle(world.services.sync);
    assert.equal(counts.repliesApplied, 0);
    assert.match((await world.services.db('articles').first()).replies, /@mallory: <script>alert\(1\)<\/script>$/);

    for (const page of ['/records/articles/rows/1', '/communications', '/sandbox/accounts/1', '/records/articles']) {
      const html = (await editor.get(page).then((response) => response.status === 403 ? admin.get(page) : response)).text;
      assert.ok(!html.includes(SCRIPT), `${page} carries the reply as markup`);
      assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), `${page} shows the reply as text`);
    }
  });

  it('creates a record from the form, which the capture trigger sees, and shows its publication state', async () => {
    const created = await createRecord(editor, { title: 'From the form', tweet_text: 'Typed into the web form', keep_going: '' });
    assert.equal(created.status, 303);
    assert.equal(created.headers.location, '/records/articles/rows/1');
    const page = await editor.get('/records/articles/rows/1');
    assert.match(flashText(page.text), /Record 1 created in 'articles'\. It will be tweeted right away by integration 1 \(23 of 280 weighted characters\)\./);
    assert.match(page.text, /<span class="badge state-pending">pending<\/span>/);
    assert.equal((await world.services.publications.findByRecord(1, '1'))?.state, 'pending');
    assert.equal((await world.services.db('articles').first()).keep_going, 'Yes', 'a blank field takes the column default');

    await runPollCycle(world.services.sync);
    const sent = await editor.get('/records/articles/rows/1');
    const { tweetId } = (await world.services.publications.findByRecord(1, '1'))!;
    assert.match(sent.text, new RegExp(`Tweet <a href="/sandbox/accounts/1#tweet-${tweetId}">${tweetId}</a>`));
    assert.match(sent.text, /<div class="meta">Tweeted · /);
  });

  it('shows why a record was skipped or failed', async () => {
    await createRecord(editor, { title: 'Skip me', tweet_text: 'Not wanted', keep_going: 'No' });
    await createRecord(editor, { title: 'Too long', tweet_text: 'y'.repeat(300) });
    await runPollCycle(world.services.sync);
    assert.match((await editor.get('/records/articles/rows/1')).text, /state-skipped">skipped<\/span>\s*<span class="reason">not tweeted: the continue field is No<\/span>/);
    assert.match((await editor.get('/records/articles/rows/2')).text, /state-failed">failed<\/span>\s*<span class="reason">[^<]*300[^<]*<\/span>/);
  });

  it('lets an editor turn the continue field to No; later replies are then logged but not written', async () => {
    await createRecord(editor, { title: 'Stop later', tweet_text: 'Replies welcome for a while' });
    await runPollCycle(world.services.sync);
    const edit = await editor.get('/records/articles/rows/1/edit');
    assert.match(fieldBlock(edit.text, 'field-keep_going'), /<option value="Yes" selected>Yes<\/option>/);
    assert.match(fieldBlock(edit.text, 'field-tweet_text'), /editing it now changes nothing on X/);
    const token = await world.csrf(editor, '/records/articles/rows/1/edit');
    const saved = await editor.post('/records/articles/rows/1').type('form').send({
      _csrf: token, 'field:title': 'Stop later', 'field:tweet_text': 'Replies welcome for a while', 'field:replies': '', 'field:keep_going': 'No',
    });
    assert.equal(saved.status, 303);
    assert.equal((await world.services.db('articles').first()).keep_going, 'No');
    const [tweet] = world.sandbox.timeline('kb_records').tweets;
    world.sandbox.postAs({ as: 'bob', text: 'too late', in_reply_to_tweet_id: tweet.id });
    await runPollCycle(world.services.sync);
    const page = await editor.get('/records/articles/rows/1');
    assert.match(page.text, /Continue field <code>keep_going<\/code>: no — new replies are logged but not written/);
    assert.match(page.text, /Reply from @bob[\s\S]*not written: /);
    const notApplied = await editor.get('/communications?applied=no');
    assert.match(notApplied.text, /@kb_records too late/);
    assert.equal(await world.services.db('articles').first().then((row) => row.replies), null, 'the reply was not written');
  });

  it('refuses a record the database refuses, and a value over the column limit, beside the field', async () => {
    const missingTitle = await createRecord(editor, { tweet_text: 'No title' });
    assert.equal(missingTitle.status, 400);
    assert.deepEqual(fieldErrors(fieldBlock(missingTitle.text, 'field-title')), ['title is required']);
    assert.doesNotMatch(missingTitle.text, /NOT NULL|not-null|insert into/i);
    const tooLong = await createRecord(editor, { title: 't'.repeat(201) });
    assert.equal(tooLong.status, 400);
    assert.deepEqual(fieldErrors(fieldBlock(tooLong.text, 'field-title')), ['at most 200 characters (this is 201)']);
    assert.equal(Number((await world.services.db('articles').count({ count: '*' }).first())?.count), 0);
  });

  it('pages through a table newest first, and lists the tables with their counts', async () => {
    await world.services.db('articles').insert(Array.from({ length: 30 }, (_, index) => ({ title: `Article ${index + 1}`, tweet_text: `Text ${index + 1}` })));
    const tables = await editor.get('/records');
    assert.match(tables.text, /<a href="\/records\/articles">articles<\/a><\/td>\s*<td class="number">30<\/td>/);
    const first = await editor.get('/records/articles');
    assert.equal((first.text.match(/<tr>\s*<td><a href="\/records\/articles\/rows\//g) ?? []).length, 25);
    assert.match(first.text, /Article 30/);
    assert.match(first.text, /Page 1 of 2/);
    const second = await editor.get('/records/articles?page=2');
    assert.equal((second.text.match(/<tr>\s*<td><a href="\/records\/articles\/rows\//g) ?? []).length, 5);
    assert.match(second.text, /Article 1</);
    assert.equal((await editor.get('/records/no_such_table')).status, 404);
    assert.equal((await editor.get('/records/articles/rows/999')).status, 404);
  });

  it('filters the communications log by integration, direction and applied, newest first, a page at a time', async () => {
    await createRecord(editor, { title: 'Log', tweet_text: 'Logged tweet' });
    await runPollCycle(world.services.sync);
    const [tweet] = world.sandbox.timeline('kb_records').tweets;
    for (let index = 1; index <= 55; index++) world.sandbox.postAs({ as: `reader${index}`, text: `reply ${index}`, in_reply_to_tweet_id: tweet.id });
    await runPollCycle(world.services.sync);
    const all = await editor.get('/communications');
    assert.equal((all.text.match(/<span class="direction /g) ?? []).length, 50);
    assert.ok(all.text.indexOf('reply 55') < all.text.indexOf('reply 54'), 'newest first');
    assert.match(all.text, /Older →/);
    const rest = await editor.get('/communications?page=2');
    assert.equal((rest.text.match(/<span class="direction /g) ?? []).length, 6);
    const out = await editor.get('/communications?direction=out&integration=1');
    assert.equal((out.text.match(/<span class="direction out">/g) ?? []).length, 1);
    assert.doesNotMatch(out.text, /<span class="direction in">/);
    const applied = await editor.get('/communications?direction=in&applied=yes');
    assert.equal((applied.text.match(/<span class="direction in">/g) ?? []).length, 50);
    assert.match((await editor.get('/communications?applied=no&direction=in')).text, /Nothing logged for these filters/);
  });

  it('refuses a sandbox reply the emulator refuses, and one posted as the account itself', async () => {
    await createRecord(editor, { title: 'Sandbox', tweet_text: 'Sandbox tweet' });
    await runPollCycle(world.services.sync);
    const [tweet] = world.sandbox.timeline('kb_records').tweets;
    const token = await world.csrf(admin, '/sandbox/accounts/1');
    await admin.post('/sandbox/accounts/1/replies').type('form').send({ _csrf: token, inReplyTo: tweet.id, as: 'alice', text: ' ' });
    assert.match(flashText((await admin.get('/sandbox/accounts/1')).text), /Write the text of the reply/);
    await admin.post('/sandbox/accounts/1/replies').type('form').send({ _csrf: token, inReplyTo: tweet.id, as: 'not a name!', text: 'hi' });
    assert.match(flashText((await admin.get('/sandbox/accounts/1')).text), /The sandbox refused the reply: `as` must be a username/);
    await admin.post('/sandbox/accounts/1/replies').type('form').send({ _csrf: token, inReplyTo: tweet.id, as: 'kb_records', text: 'self' });
    assert.match(flashText((await admin.get('/sandbox/accounts/1')).text), /Reply as someone other than @kb_records/);
    assert.equal(world.sandbox.timeline('kb_records').tweets[0].replies.length, 0);
  });
});
