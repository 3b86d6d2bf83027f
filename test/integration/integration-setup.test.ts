import assert from 'node:assert/strict';
import { createExampleTable } from '../../src/kb/example-table';
import { insertRecord, listRecords, updateRecord } from '../../src/kb/records';
import { describeTable } from '../../src/kb/schema';
import { updateIntegration, type IntegrationValidationError } from '../../src/setup/integration-setup';
import { articlesTable, describeEachDatabase, TestEnv } from '../support/test-env';

describeEachDatabase('integration set-up: backfill, editing, records written by the web app', (database) => {
  let world: TestEnv;
  let accountId: number;

  beforeEach(async () => {
    world = await TestEnv.create(database);
    await world.sql(articlesTable(world));
    accountId = await world.addAccount(await world.createXUser('kb_setup'));
  });
  afterEach(async () => world.close());

  const options = () => ({
    account: String(accountId), table: 'articles', 'tweet-field': 'tweet_text', 'response-field': 'replies',
    mode: 'append', 'continue-field': 'keep_going',
  });

  it('leaves existing records alone, unless `integration add --backfill` asks for them, with their count', async () => {
    for (const title of ['a', 'b', 'c']) await world.sql('INSERT INTO articles (title, tweet_text) VALUES (?, ?)', [title, `Old ${title}`]);
    const plain = await world.cli(['--json', 'integration', 'add', ...Object.entries(options()).flat().map((part, index) => (index % 2 === 0 ? `--${part}` : part))]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.ok(plain.json.warnings.includes("table 'articles' already has 3 records; they will not be tweeted"));
    assert.equal(plain.json.backfilled, 0);
    // Another tweet field: one integration per account, table and tweet field.
    const args = ['integration', 'add', ...Object.entries({ ...options(), 'tweet-field': 'title' }).flat().map((part, index) => (index % 2 === 0 ? `--${part}` : part)), '--backfill'];
    const human = await world.cli(args);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /backfill: 3 existing records will be tweeted/);
    assert.match(human.stderr, /warning: .*with the backfill all 3 will be tweeted/);
    const services = await world.services();
    assert.equal((await services.publications.countByState(1)).pending, 0);
    assert.equal((await services.publications.countByState(2)).pending, 3);
    await world.sql('INSERT INTO articles (title, tweet_text) VALUES (?, ?)', ['d', 'New d']);
    assert.equal((await services.publications.countByState(2)).pending, 4, 'the trigger captures new records as before');
  });

  it('changes fields, mode and schedule after the same checks as adding, keeping account, table and trigger', async () => {
    const id = await world.addIntegration(options());
    const services = await world.services();
    const changes = { tweetField: 'title', responseField: 'replies', responseMode: 'overwrite', continueField: 'keep_going', schedule: '*/15 * * * *', timeZone: 'Europe/Paris', longTextPolicy: 'truncate' };
    const { integration } = await updateIntegration(services.integrationSetup, id, changes);
    assert.deepEqual(
      [integration.tableName, integration.tweetField, integration.responseMode, integration.schedule, integration.timeZone, integration.longTextPolicy],
      ['articles', 'title', 'overwrite', '*/15 * * * *', 'Europe/Paris', 'truncate'],
    );
    await assert.rejects(updateIntegration(services.integrationSetup, id, { ...changes, responseField: 'title' }), (error: IntegrationValidationError) => {
      assert.equal(error.problems.errors[0].field, 'responseField');
      return true;
    });
    await world.sql('INSERT INTO articles (title) VALUES (?)', ['captured']);
    assert.equal((await services.publications.countByState(id)).pending, 1);
  });

  it('creates the example table and writes records the way the web form and the API do', async () => {
    const services = await world.services();
    await world.sql('DROP TABLE articles');
    assert.equal(await createExampleTable(services.db), 'articles');
    await assert.rejects(createExampleTable(services.db), /already has a table named 'articles'/);
    const table = (await describeTable(services.db, 'articles'))!;
    assert.deepEqual(table.columns.map((column) => column.name), ['id', 'title', 'tweet_text', 'replies', 'keep_going']);
    const first = await insertRecord(services.db, table, { title: 'One', tweet_text: 'First' });
    const second = await insertRecord(services.db, table, { title: 'Two', tweet_text: 'Second' });
    assert.deepEqual([first, second], ['1', '2']);
    await updateRecord(services.db, table, '1', { keep_going: 'No', replies: null });
    const rows = await listRecords(services.db, table, { limit: 10, offset: 0 });
    assert.deepEqual(rows.map((row) => [row.title, row.keep_going]), [['Two', 'Yes'], ['One', 'No']]);
  });
});
