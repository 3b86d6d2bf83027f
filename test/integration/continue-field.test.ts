import assert from 'node:assert/strict';
import { describeEachDatabase, TestEnv } from '../support/test-env';

describeEachDatabase('the continue field\'s values, checked by `integration add` and `update`', (database) => {
  let world: TestEnv;
  let accountId: number;

  before(async () => {
    world = await TestEnv.create(database);
    await world.sql(`CREATE TABLE posts (id ${world.autoId}, title VARCHAR(200) NOT NULL, body TEXT, replies TEXT, go_on VARCHAR(5) NOT NULL, headline VARCHAR(200) NOT NULL)`);
    await world.sql('INSERT INTO posts (title, body, go_on, headline) VALUES (?, ?, ?, ?)', ['Hello world', 'First', 'Yes', '']);
    await world.sql('INSERT INTO posts (title, body, go_on, headline) VALUES (?, ?, ?, ?)', ['Second post', 'Second', 'No', '']);
    accountId = await world.addAccount(await world.createXUser('kb_continue'));
  });
  after(async () => world.close());

  const add = (continueField: string, json = true) => world.cli([...(json ? ['--json'] : []), 'integration', 'add', '--account', String(accountId), '--table', 'posts',
    '--tweet-field', 'body', '--response-field', 'replies', '--mode', 'append', '--continue-field', continueField]);
  const SKIPPED = 'records whose value is neither Yes nor No are skipped (Yes is yes, y, true, 1 or on; No is no, n, false, 0 or off; blank counts as Yes)';

  it('adds with a title as continue field, warning on standard error with the values that are neither Yes nor No', async () => {
    const added = await add('title', false);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /^added integration \d+/);
    assert.ok(!added.stdout.includes('warning'), 'standard output keeps the result');
    const warning = added.stderr.split('\n').find((line) => line.includes("continue field 'title'"));
    assert.match(warning ?? '', /^warning: the continue field 'title' holds values that are neither Yes nor No: ('Hello world', 'Second post'|'Second post', 'Hello world'); /);
    assert.ok(warning?.endsWith(SKIPPED), warning);
  });

  it('warns in `--json` about a text column with no values yet, and says nothing of a Yes/No column', async () => {
    const [first] = (await world.cli(['--json', 'integration', 'list'])).json.integrations;
    const changed = await world.cli(['--json', 'integration', 'update', String(first.id), '--continue-field', 'headline']);
    assert.equal(changed.code, 0, changed.stderr);
    assert.deepEqual(changed.json.warnings, [`the continue field 'headline' is ${database === 'postgres' ? 'character varying(200)' : 'VARCHAR(200)'}, a column for text rather than Yes/No, and holds no values yet to judge by; ${SKIPPED}`]);
    const yesNo = await world.cli(['--json', 'integration', 'update', String(first.id), '--continue-field', 'go_on']);
    assert.equal(yesNo.code, 0, yesNo.stderr);
    assert.deepEqual(yesNo.json.warnings, []);
  });
});
