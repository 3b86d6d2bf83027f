import assert from 'node:assert/strict';
import { DateTime } from 'luxon';
import { captureTriggerExists } from '../../src/db/dialect';
import { createExampleTable } from '../../src/kb/example-table';
import { listTables } from '../../src/kb/schema';
import { decode, fieldBlock, fieldErrors, fieldWarnings, flashText } from '../support/html';
import { WebWorld, type Agent } from '../support/web-world';
import { describeEachDatabase } from '../support/test-env';

describeEachDatabase('web app: the integration wizard', (database) => {
  let world: WebWorld;
  let admin: Agent;
  let accountId: string;

  beforeEach(async () => {
    world = await WebWorld.create({ database });
    admin = await world.signIn('ada', 'admin');
    await createExampleTable(world.services.db);
    const token = await world.csrf(admin, '/accounts/new');
    const added = await admin.post('/accounts').type('form').send({ _csrf: token, intent: 'save', description: 'Wizard', environment: 'sandbox' });
    assert.equal(added.status, 303, added.text);
    accountId = added.headers.location.split('/').pop() as string;
  });
  afterEach(async () => world.close());

  /** Posts one step of the wizard with the choices so far. */
  async function step(step: number, choices: Record<string, string>, nav = 'next') {
    const token = await world.csrf(admin, '/integrations/new');
    return admin.post('/integrations/new').type('form').send({
      _csrf: token, step: String(step), nav, accountId, table: 'articles', tweetField: 'tweet_text', responseField: 'replies',
      responseMode: 'append', continueField: 'keep_going', frequency: '5', timeZone: 'UTC', longTextPolicy: 'reject', ...choices,
    });
  }

  it('walks account → table → fields → review and creates the integration with its trigger', async () => {
    const first = await admin.get('/integrations/new');
    assert.match(first.text, /1\. Which X account tweets\?/);
    assert.match((await step(1, { table: '' })).text, /2\. Which table\?/);
    const fields = await step(2, {});
    assert.match(fields.text, /3\. Fields and schedule/);
    for (const mode of ['adds each reply after what the field holds', 'adds each reply before', 'replaces what the field holds with the newest reply']) {
      assert.ok(fields.text.includes(mode), `the modes are explained: ${mode}`);
    }
    // The sample reply is two hours old; in Berlin its stamp shows Berlin's time and offset (+1 or +2) on that day.
    const sampleInBerlin = () => {
      const local = DateTime.utc().minus({ hours: 2 }).setZone('Europe/Berlin');
      return `[${local.toFormat('yyyy-MM-dd HH:mm')} GMT+${local.offset / 60}] @alice: Thanks, this answered my question.`;
    };
    const before = sampleInBerlin();
    const review = await step(3, { frequency: 'cron', cron: '*/10 * * * *', timeZone: 'Europe/Berlin', responseMode: 'prepend' });
    const after = sampleInBerlin();
    assert.equal(review.status, 200);
    assert.match(review.text, /4\. Review/);
    assert.ok(review.text.includes(before) || review.text.includes(after), `the preview uses the zone: ${before}`);
    assert.match(review.text, /<code>\*\/10 \* \* \* \*<\/code> in Europe\/Berlin/);
    assert.match((await step(4, {}, 'back')).text, /3\. Fields and schedule/, 'Back returns to the previous step');
    const created = await step(4, { frequency: 'cron', cron: '*/10 * * * *', timeZone: 'Europe/Berlin', responseMode: 'prepend' });
    assert.equal(created.status, 303);
    assert.equal(created.headers.location, '/#integration-1', 'the dashboard, at the new integration');
    assert.match(flashText((await admin.get('/')).text), /Integration 1 created: new records of 'articles' are tweeted on the schedule '\*\/10 \* \* \* \*'/);
    const [integration] = await world.services.integrations.list();
    assert.deepEqual(
      [integration.tableName, integration.responseMode, integration.schedule, integration.timeZone],
      ['articles', 'prepend', '*/10 * * * *', 'Europe/Berlin'],
    );
    assert.equal(await captureTriggerExists(world.services.db, integration.id), true);
  });

  it('Back + Create with the wizard\'s form token shows the integration it made instead of making or refusing a second', async () => {
    const page = await admin.get('/integrations/new');
    const formToken = /name="_form" value="([^"]+)"/.exec(page.text)?.[1];
    assert.ok(formToken, 'the wizard carries a form token');
    const created = await step(4, { _form: formToken });
    assert.equal(created.status, 303);
    assert.equal(created.headers.location, '/#integration-1');
    await admin.get('/');
    const again = await step(4, { _form: formToken });
    assert.equal(again.status, 303, again.text);
    assert.equal(again.headers.location, '/#integration-1');
    assert.equal(flashText((await admin.get('/')).text), 'This wizard had already created integration 1; no second integration was made.');
    assert.equal((await world.services.integrations.list()).length, 1);
  });

  it('names the integration that already tweets the table at the fields step, and refuses the same tweet field beside it, with links', async () => {
    assert.equal((await step(4, {})).status, 303);
    const fields = await step(2, {});
    assert.equal(fields.status, 200);
    const notice = /<p class="field-warning" id="existing-integrations">([\s\S]*?)<\/p>/.exec(fields.text)?.[1] ?? '';
    assert.match(notice, /<a href="\/#integration-1">integration 1<\/a> tweets <code>tweet_text<\/code>/);
    assert.match(fields.text, /tweet_text — TEXT[^<]*, allows NULL — tweeted by integration 1<\/option>|tweet_text — text, allows NULL — tweeted by integration 1<\/option>/);
    const refused = await step(3, {});
    assert.equal(refused.status, 400);
    const block = fieldBlock(refused.text, 'tweetField');
    assert.deepEqual(fieldErrors(block), [
      "integration 1 already tweets 'tweet_text' of table 'articles' from @" + (await world.services.accounts.get(Number(accountId)))?.screenName
        + '; a second one would tweet each new record again. Change integration 1 instead, or choose another tweet field',
    ]);
    assert.match(block, /<a href="\/#integration-1">integration 1 on the dashboard<\/a>, or <a href="\/integrations\/1\/edit">edit integration 1<\/a>/);
    assert.equal((await step(4, {})).status, 400, 'Create without a token is refused too');
    assert.equal((await world.services.integrations.list()).length, 1);
    const otherField = await step(3, { tweetField: 'title' });
    assert.equal(otherField.status, 200, 'another tweet field of the same table is fine');
  });

  it('refuses an edit that would make an integration the twin of another, beside the tweet field, and lets it keep its own field', async () => {
    assert.equal((await step(4, {})).status, 303);
    assert.equal((await step(4, { tweetField: 'title' })).status, 303, 'another tweet field of the same table');
    const token = await world.csrf(admin, '/integrations/2/edit');
    const form = { _csrf: token, tweetField: 'tweet_text', responseField: 'replies', continueField: 'keep_going', responseMode: 'append', frequency: '5', timeZone: 'UTC', longTextPolicy: 'reject' };
    const refused = await admin.post('/integrations/2/edit').type('form').send(form);
    assert.equal(refused.status, 400);
    assert.match(fieldErrors(fieldBlock(refused.text, 'tweetField'))[0], /^integration 1 already tweets 'tweet_text' of table 'articles'/);
    assert.match(fieldBlock(refused.text, 'tweetField'), /<a href="\/integrations\/1\/edit">edit integration 1<\/a>/);
    assert.equal((await world.services.integrations.get(2))?.tweetField, 'title', 'nothing was saved');
    const own = await admin.post('/integrations/2/edit').type('form').send({ ...form, tweetField: 'title', responseMode: 'prepend' });
    assert.equal(own.status, 303, 'an integration is no twin of itself');
  });

  it('lists Yes/No-like continue fields first with samples of their values, and warns about a text column chosen as one', async () => {
    const db = world.services.db;
    await db.schema.createTable('posts', (table) => {
      table.increments('id');
      table.string('title', 200).notNullable();
      table.text('body');
      table.boolean('published');
      table.string('go_on', 5);
      table.smallint('rank');
      table.text('answers');
    });
    await db('posts').insert([
      { title: 'Hello world', body: 'First', published: true, go_on: 'Yes', rank: 3, answers: '' },
      { title: "It's \"quoted\" <b>", body: 'Second', published: false, go_on: 'no', rank: 1, answers: '' },
    ]);
    const fields = await step(2, { table: 'posts' });
    const select = fieldBlock(fields.text, 'continueField');
    const groups = [...select.matchAll(/<optgroup label="([^"]+)">([\s\S]*?)<\/optgroup>/g)]
      .map((group) => [group[1], [...group[2].matchAll(/<option value="([^"]+)"[^>]*>([^<]*)<\/option>/g)].map((option) => decode(option[2]))]);
    assert.deepEqual(groups.map(([label, options]) => [label, (options as string[]).map((option) => option.split(' — ')[0])]), [
      ['Yes/No-like columns', ['published', 'go_on']],
      ['Other columns', ['answers', 'title', 'body', 'rank', 'id']],
    ]);
    const labels = Object.fromEntries((groups.flatMap(([, options]) => options) as string[]).map((option) => [option.split(' — ')[0], option]));
    assert.match(labels.go_on, / — values: ('Yes', 'no'|'no', 'Yes')$/);
    assert.match(labels.published, / — values: ('(1|true)', '(0|false)'|'(0|false)', '(1|true)')$/);
    assert.match(labels.title, / — values: ('Hello world', 'It's "quoted" <b>'|'It's "quoted" <b>', 'Hello world')$/);
    assert.ok(!select.includes('<b>'), 'a sampled value is escaped');
    const review = await step(3, { table: 'posts', tweetField: 'body', responseField: 'answers', continueField: 'title' });
    assert.equal(review.status, 200, 'a warning does not block');
    const [warning] = fieldWarnings(review.text.slice(review.text.indexOf('<dt>Continue field</dt>'), review.text.indexOf('<dt>Polling</dt>')));
    assert.match(warning, /^the continue field 'title' holds values that are neither Yes nor No: ('Hello world', 'It's "quoted" <b>'|'It's "quoted" <b>', 'Hello world'); records whose value is neither Yes nor No are skipped/);
    const fine = await step(3, { table: 'posts', tweetField: 'body', responseField: 'answers', continueField: 'go_on' });
    assert.ok(!/neither Yes nor No/.test(fine.text), 'Yes/No values draw no warning');
  });

  it('refuses the same field twice, beside the field, with the reason', async () => {
    const refused = await step(3, { responseField: 'tweet_text' });
    assert.equal(refused.status, 400);
    assert.deepEqual(fieldErrors(fieldBlock(refused.text, 'responseField')), [
      "the tweet field and the response field are the same column 'tweet_text'; choose a different column for each",
    ]);
    assert.deepEqual(fieldErrors(fieldBlock(refused.text, 'tweetField')), []);
  });

  it('refuses a bad cron expression, time zone and mode beside their fields, in the words of the command line', async () => {
    const refused = await step(3, { frequency: 'cron', cron: 'every minute', timeZone: 'Mars/Olympus', responseMode: 'sideways' });
    assert.equal(refused.status, 400);
    assert.match(refused.text, /3\. Fields and schedule/);
    assert.deepEqual(fieldErrors(fieldBlock(refused.text, 'timeZone')), ["'Mars/Olympus' is not a time zone (use an IANA name such as UTC or Europe/Berlin)"]);
    assert.deepEqual(fieldErrors(fieldBlock(refused.text, 'frequency')), ["'every minute' is not a cron expression (for example */5 * * * * for every 5 minutes)"]);
    assert.deepEqual(fieldErrors(fieldBlock(refused.text, 'responseMode')), ["response mode must be one of append, prepend, overwrite, not 'sideways'"]);
    assert.deepEqual(await world.services.integrations.list(), []);
  });

  it('refuses a response field that is not text, beside the field', async () => {
    await world.services.db.raw('CREATE TABLE scores (id INTEGER PRIMARY KEY, tweet_text TEXT, score INTEGER, keep_going TEXT NOT NULL)');
    const refused = await step(3, { table: 'scores', responseField: 'score' });
    assert.equal(refused.status, 400);
    const [message, ...others] = fieldErrors(fieldBlock(refused.text, 'responseField'));
    assert.match(message, /^the response field 'score' is of type integer; replies are text, so choose a text column$/i);
    assert.deepEqual(others, []);
  });

  it('refuses a table without a primary key at the table step, beside the field', async () => {
    await world.services.db.raw('CREATE TABLE loose (tweet_text TEXT, replies TEXT, keep_going TEXT)');
    const refused = await step(2, { table: 'loose' });
    assert.equal(refused.status, 400);
    assert.match(refused.text, /2\. Which table\?/);
    assert.deepEqual(fieldErrors(fieldBlock(refused.text, 'table')), [
      "table 'loose' has no primary key; each record must be findable again by a single-column primary key",
    ]);
  });

  it('only ever uses table names that introspection reports', async () => {
    const refused = await step(2, { table: 'articles"; DROP TABLE articles; --' });
    assert.equal(refused.status, 400);
    assert.deepEqual(fieldErrors(fieldBlock(refused.text, 'table')), ['table \'articles"; DROP TABLE articles; --\' does not exist in the knowledgebase']);
    assert.ok((await listTables(world.services.db)).includes('articles'));
  });

  it('warns that a NULL-able continue field tweets blank records, and that a short response field overflows', async () => {
    await world.services.db.raw('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, answers VARCHAR(200), go_on TEXT)');
    const review = await step(3, { table: 'notes', tweetField: 'body', responseField: 'answers', continueField: 'go_on' });
    assert.equal(review.status, 200);
    assert.deepEqual(fieldWarnings(review.text.slice(review.text.indexOf('<dt>Continue field</dt>'), review.text.indexOf('<dt>Polling</dt>'))), [
      "the continue field 'go_on' allows NULL; blank counts as Yes, so records created without a value are tweeted automatically",
    ]);
    assert.deepEqual(fieldWarnings(review.text.slice(review.text.indexOf('<dt>Response field</dt>'), review.text.indexOf('<dt>Continue field</dt>'))), [
      "the response field 'answers' holds at most 200 characters; replies will overflow it (a reply that does not fit is kept in the communications log, not written)",
    ]);
    // A field step sent back for an error keeps the warning beside the continue field too.
    const refused = await step(3, { table: 'notes', tweetField: 'body', responseField: 'body', continueField: 'go_on' });
    assert.match(fieldWarnings(fieldBlock(refused.text, 'continueField'))[0], /allows NULL; blank counts as Yes/);
  });

  it('says existing records will not be tweeted, and tweets them all when a backfill is chosen', async () => {
    for (const title of ['one', 'two', 'three']) await world.services.db('articles').insert({ title, tweet_text: `Old ${title}` });
    const review = await step(3, {});
    assert.deepEqual(fieldWarnings(review.text.slice(review.text.indexOf('<dt>Table</dt>'), review.text.indexOf('<dt>Tweet field</dt>'))), [
      "table 'articles' already has 3 records; they will not be tweeted",
    ]);
    assert.match(review.text, /Backfill: also tweet the <strong>3<\/strong> records the table holds now/);
    assert.match(review.text, /The newest record's tweet text is 9 of 280 characters/);
    const created = await step(4, { backfill: 'on' });
    assert.equal(created.status, 303);
    assert.match(flashText((await admin.get('/')).text), /3 existing records will be tweeted too/);
    assert.equal((await world.services.publications.countByState(1)).pending, 3);
  });

  it('edits, pauses, resumes and removes an integration', async () => {
    assert.equal((await step(4, {})).status, 303);
    const edit = await admin.get('/integrations/1/edit');
    assert.match(edit.text, /Edit integration #1/);
    const token = await world.csrf(admin, '/integrations/1/edit');
    const form = { _csrf: token, tweetField: 'tweet_text', responseField: 'replies', continueField: 'keep_going', responseMode: 'overwrite', frequency: '15', timeZone: 'UTC', longTextPolicy: 'thread' };
    const same = await admin.post('/integrations/1/edit').type('form').send({ ...form, continueField: 'replies' });
    assert.equal(same.status, 400);
    assert.match(fieldErrors(fieldBlock(same.text, 'continueField'))[0], /the response field and the continue field are the same column 'replies'/);
    assert.equal((await admin.post('/integrations/1/edit').type('form').send(form)).status, 303);
    const saved = await world.services.integrations.get(1);
    assert.deepEqual([saved?.responseMode, saved?.schedule, saved?.longTextPolicy], ['overwrite', '*/15 * * * *', 'thread']);

    assert.equal((await admin.post('/integrations/1/pause').type('form').send({ _csrf: token })).status, 303);
    const paused = await admin.get('/');
    assert.match(paused.text, /Paused: paused by ada/);
    assert.match(paused.text, /<span class="badge state-paused">paused<\/span>/);
    assert.equal((await admin.post('/integrations/1/run').type('form').send({ _csrf: token })).status, 303);
    assert.match(flashText((await admin.get('/')).text), /is paused \(paused by ada\); resume it to run it/);
    assert.equal((await admin.post('/integrations/1/resume').type('form').send({ _csrf: token })).status, 303);
    assert.equal((await world.services.integrations.get(1))?.status, 'active');

    assert.match((await admin.get('/integrations/1/remove')).text, /The records, the tweets already posted and the communications log stay/);
    assert.equal((await admin.post('/integrations/1/remove').type('form').send({ _csrf: token })).status, 303);
    assert.equal(await world.services.integrations.get(1), undefined);
    assert.equal(await captureTriggerExists(world.services.db, 1), false);
  });

  it('shows each integration on the dashboard with its counts, and "Run now" tweets pending records', async () => {
    assert.equal((await step(4, {})).status, 303);
    await world.services.db('articles').insert([{ title: 'a', tweet_text: 'First news' }, { title: 'b', tweet_text: 'x'.repeat(300) }]);
    const token = await world.csrf(admin, '/');
    assert.equal((await admin.post('/integrations/1/run').type('form').send({ _csrf: token })).status, 303);
    const dashboard = await admin.get('/');
    assert.match(flashText(dashboard.text), /Ran integration 1: published 1, skipped 0, failed 1/);
    assert.match(dashboard.text, /<span class="count">1<\/span> sent/);
    assert.match(dashboard.text, /<span class="count">1<\/span> failed/);
    assert.match(dashboard.text, /POST \/2\/tweets 99\/100 left/, 'the rate-limit headroom read from the answers');
    assert.doesNotMatch(dashboard.text, /not known yet/);
  });
});
