import assert from 'node:assert/strict';
import { addAccount } from '../../src/setup/account-setup';
import { addIntegration } from '../../src/setup/integration-setup';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { fieldBlock } from '../support/html';
import { describeEachDatabase } from '../support/test-env';
import { WebWorld, type Agent } from '../support/web-world';

// Column names that are also names on every JavaScript object's prototype (issue 10, finding 8).
const PROTOTYPE_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];

describeEachDatabase('security: columns named like JavaScript\'s own properties, and page parameters', (database) => {
  let world: WebWorld;
  let editor: Agent;
  let token: string;

  before(async () => {
    world = await WebWorld.create({ database });
    editor = await world.signIn('eddie', 'editor');
    await world.env.sql(`CREATE TABLE odd (id ${world.env.autoId}, ${PROTOTYPE_NAMES.map((name) => `"${name}" text`).join(', ')})`);
    const created = await editor.post('/me/tokens').type('form').send({ _csrf: await world.csrf(editor), name: 'probe' });
    token = /<code id="new-token">(kbts_[\w-]+)<\/code>/.exec(created.text)![1];
  });
  after(async () => world.close());

  // Under aliases: a driver that builds rows as plain objects would drop a "__proto__" column.
  const stored = async () => (await world.env.sql(`SELECT ${PROTOTYPE_NAMES.map((name, index) => `"${name}" AS c${index}`).join(', ')} FROM odd ORDER BY id`))
    .map((row) => new Map(PROTOTYPE_NAMES.map((name, index) => [name, row[`c${index}`]])));

  it('shows the record forms and saves every such column from the pages', async () => {
    const form = await editor.get('/records/odd/new');
    assert.equal(form.status, 200);
    for (const name of PROTOTYPE_NAMES) {
      assert.ok(form.text.includes(`name="field:${name}" rows="3"></textarea>`), `${name} starts empty, not with a function's text`);
      assert.ok(!/native code/.test(fieldBlock(form.text, `field-${name}`)));
    }
    const csrf = await world.csrf(editor, '/records/odd/new');
    const values = Object.fromEntries(PROTOTYPE_NAMES.map((name) => [`field:${name}`, `new ${name}`]));
    const created = await editor.post('/records/odd').type('form').send({ _csrf: csrf, ...values });
    assert.equal(created.status, 303, created.text.slice(0, 400));
    assert.deepEqual((await stored())[0], new Map(PROTOTYPE_NAMES.map((name) => [name, `new ${name}`])));

    const show = await editor.get('/records/odd/rows/1');
    assert.equal(show.status, 200);
    for (const name of PROTOTYPE_NAMES) assert.ok(show.text.includes(`new ${name}`), name);
    const edit = await editor.get('/records/odd/rows/1/edit');
    assert.equal(edit.status, 200);
    for (const name of PROTOTYPE_NAMES) assert.ok(edit.text.includes(`name="field:${name}" rows="3">new ${name}</textarea>`), name);
    const saved = await editor.post('/records/odd/rows/1').type('form')
      .send({ _csrf: csrf, ...Object.fromEntries(PROTOTYPE_NAMES.map((name) => [`field:${name}`, `edited ${name}`])) });
    assert.equal(saved.status, 303);
    assert.deepEqual((await stored())[0], new Map(PROTOTYPE_NAMES.map((name) => [name, `edited ${name}`])));
    assert.equal((await editor.get('/records/odd')).status, 200);
  });

  it('creates and reads such records through the JSON API', async () => {
    const body = `{${PROTOTYPE_NAMES.map((name) => `"${name}": "api ${name}"`).join(', ')}}`;
    const created = await world.agent().post('/api/v1/tables/odd/records').set('Authorization', `Bearer ${token}`).set('content-type', 'application/json').send(body);
    assert.equal(created.status, 201, created.text);
    const read = await world.agent().get(`/api/v1/tables/odd/records/${created.body.key}`).set('Authorization', `Bearer ${token}`);
    const record = JSON.parse(read.text).record as Record<string, unknown>;
    for (const name of PROTOTYPE_NAMES) assert.equal(Object.entries(record).find(([key]) => key === name)?.[1], `api ${name}`, name);
  });

  it('tweets from a field named __proto__ and writes replies into one named constructor', async () => {
    const created = world.sandbox.createUser({ username: 'kb_odd' });
    const account = await addAccount(world.services.accountSetup, {
      description: 'Odd', environment: 'sandbox', apiBaseUrl: null,
      credentials: { apiKey: created.credentials.api_key, apiKeySecret: created.credentials.api_key_secret, accessToken: created.credentials.access_token, accessTokenSecret: created.credentials.access_token_secret },
    });
    const { integration } = await addIntegration(world.services.integrationSetup, {
      accountId: account.id, table: 'odd', tweetField: '__proto__', responseField: 'constructor', responseMode: 'append', continueField: 'toString',
    });
    await world.env.sql(`INSERT INTO odd ("__proto__", "toString") VALUES ('a tweet from __proto__', 'Yes')`);
    await runPollCycle(world.services.sync, { integrationId: integration.id });
    const tweet = world.sandbox.listTweets({ author: 'kb_odd' }).find((candidate) => candidate.text === 'a tweet from __proto__');
    assert.ok(tweet, 'the record was tweeted');
    world.sandbox.createUser({ username: 'odd_replier' });
    world.sandbox.postAs({ as: 'odd_replier', in_reply_to_tweet_id: tweet.id, text: 'an answer' });
    await runPollCycle(world.services.sync, { integrationId: integration.id });
    const [row] = await world.env.sql(`SELECT "constructor" AS replies FROM odd WHERE "__proto__" = 'a tweet from __proto__'`);
    assert.match(String(row.replies), /an answer/);
  });

  it('takes ?limit= and ?offset= as decimal digits only, and says why otherwise', async () => {
    const get = (query: string) => world.agent().get(`/api/v1/tables/odd/records?${query}`).set('Authorization', `Bearer ${token}`);
    for (const [query, reason] of [
      ['limit=', /limit must be a whole number from 0 to 500 written in decimal digits, not '' \(empty\)/],
      ['limit=0x10', /limit must be a whole number from 0 to 500 written in decimal digits, not '0x10'/],
      ['limit=1e2', /not '1e2'/],
      ['limit=-1', /not '-1'/],
      ['limit=2.0', /not '2\.0'/],
      ['limit=%205', /not ' 5'/],
      ['limit=501', /limit must be at most 500, not 501/],
      ['limit=1&limit=2', /limit must be given once/],
      ['offset=0b1', /offset must be a whole number .* not '0b1'/],
    ] as const) {
      const answer = await get(query);
      assert.equal(answer.status, 400, query);
      assert.match(answer.body.error, reason, query);
    }
    await world.env.sql(`INSERT INTO odd ("toString") VALUES ('one'), ('two')`);
    const page = await get('limit=1&offset=1');
    assert.equal(page.status, 200);
    assert.deepEqual([page.body.limit, page.body.offset, page.body.records.length], [1, 1, 1]);
  });
});
