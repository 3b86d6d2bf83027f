import assert from 'node:assert/strict';
import type { Knex } from 'knex';
import { loadConfig } from '../../src/config';
import { createDb, migrateToLatest } from '../../src/db/database';
import { migrationSource } from '../../src/db/migration-source';
import { addIntegration, resumeIntegration, type IntegrationValidationError } from '../../src/setup/integration-setup';
import { articlesTable, describeEachDatabase, TestEnv } from '../support/test-env';

const TWIN = /integration (\d+) already tweets 'tweet_text' of table 'articles' from @kb_twins; a second one would tweet each new record again\. Change integration \1 instead, or choose another tweet field/;

describeEachDatabase('one integration per account, table and tweet field', (database) => {
  let world: TestEnv;
  let accountId: number;

  beforeEach(async () => {
    world = await TestEnv.create(database);
    await world.sql(articlesTable(world));
    accountId = await world.addAccount(await world.createXUser('kb_twins'));
  });
  afterEach(async () => world.close());

  const addArgs = (overrides: Record<string, string> = {}) => {
    const options: Record<string, string> = {
      account: String(accountId), table: 'articles', 'tweet-field': 'tweet_text', 'response-field': 'replies', mode: 'append', 'continue-field': 'keep_going', ...overrides,
    };
    return ['integration', 'add', ...Object.entries(options).flatMap(([key, value]) => [`--${key}`, value])];
  };
  const count = async () => Number((await world.sql('SELECT COUNT(*) AS n FROM kbts_integrations'))[0].n);

  it('`integration add` refuses a second integration on the same account, table and tweet field, in words and with a non-zero exit', async () => {
    const first = await world.cli(['--json', ...addArgs()]);
    assert.equal(first.code, 0, first.stderr);
    const human = await world.cli(addArgs({ mode: 'overwrite' }));
    assert.equal(human.code, 1, human.stdout);
    assert.match(human.stderr, TWIN);
    assert.equal(human.stderr.match(TWIN)?.[1], String(first.json.id), 'the refusal names the integration that does it');
    const json = await world.cli(['--json', ...addArgs()]);
    assert.equal(json.code, 1);
    assert.equal(json.json.code, 'validation');
    assert.match(json.json.error, TWIN);
    assert.equal(await count(), 1, 'nothing more was stored');
    const otherField = await world.cli(['--json', ...addArgs({ 'tweet-field': 'title', 'response-field': 'replies' })]);
    assert.equal(otherField.code, 0, `another tweet field of the same table is another integration: ${otherField.stderr}`);
    const otherAccount = await world.addAccount(await world.createXUser('kb_other'));
    const second = await world.cli(['--json', ...addArgs({ account: String(otherAccount) })]);
    assert.equal(second.code, 0, `another account may tweet the same field: ${second.stderr}`);
  });

  it('`integration update` refuses a change that would make a twin, and changes nothing', async () => {
    const first = await world.addArticlesIntegration(accountId);
    const second = await world.addArticlesIntegration(accountId, { 'tweet-field': 'title' });
    const refused = await world.cli(['--json', 'integration', 'update', String(second), '--tweet-field', 'tweet_text']);
    assert.equal(refused.code, 1);
    assert.match(refused.json.error, new RegExp(`^integration ${first} already tweets 'tweet_text'`));
    const [row] = await world.sql('SELECT tweet_field FROM kbts_integrations WHERE id = ?', [second]);
    assert.equal(row.tweet_field, 'title');
    const itself = await world.cli(['--json', 'integration', 'update', String(first), '--tweet-field', 'tweet_text', '--mode', 'prepend']);
    assert.equal(itself.code, 0, `an integration is no twin of itself: ${itself.stderr}`);
  });

  it('the database keeps one of two creates that race each other, and the other is refused in words', async () => {
    const services = await world.services();
    const input = { accountId, table: 'articles', tweetField: 'tweet_text', responseField: 'replies', responseMode: 'append', continueField: 'keep_going' };
    const outcomes = await Promise.allSettled([addIntegration(services.integrationSetup, input), addIntegration(services.integrationSetup, input)]);
    assert.deepEqual(outcomes.map((outcome) => outcome.status).sort(), ['fulfilled', 'rejected']);
    const refusal = (outcomes.find((outcome) => outcome.status === 'rejected') as PromiseRejectedResult).reason as IntegrationValidationError;
    assert.match(refusal.message, TWIN);
    assert.equal(refusal.problems.errors[0].field, 'tweetField');
    assert.equal(await count(), 1);
    // Past every check: the unique index alone refuses a second row.
    const [existing] = await services.integrations.list();
    await assert.rejects(services.integrations.create({ ...existing, tableName: 'articles', primaryKeyColumn: 'id' }, existing.createdAt));
    assert.equal(await count(), 1);
  });
});

describeEachDatabase('the unique-integration migration on an installation that has twins', (database) => {
  let world: TestEnv;

  beforeEach(async () => { world = await TestEnv.create(database, { migrate: false }); });
  afterEach(async () => world.close());

  /** Migrates up to, but not including, the migration that adds the unique index. */
  async function migrateBeforeTheIndex(db: Knex): Promise<void> {
    const all = await migrationSource.getMigrations([]);
    await db.migrate.latest({
      tableName: 'kbts_migrations',
      migrationSource: { ...migrationSource, getMigrations: async () => all.filter(([name]) => name < '20261202000200') },
    });
  }

  it('keeps the oldest of each group working and pauses the later ones with the reason, instead of failing', async () => {
    const db = createDb(loadConfig(world.env).database);
    // Rows stored by an earlier version, a day before the test's clock.
    const storedAt = new Date(Date.now() - 86_400_000).toISOString();
    try {
      await migrateBeforeTheIndex(db);
      await world.sql(articlesTable(world));
      const [account] = await db('kbts_accounts').insert({
        description: 'old', environment: 'live', api_base_url: null, api_key_sealed: 'x', api_key_secret_sealed: 'x', access_token_sealed: 'x', access_token_secret_sealed: 'x',
        created_at: storedAt, updated_at: storedAt,
      }).returning('id');
      const accountId = typeof account === 'object' ? account.id : account;
      const row = (tweetField: string) => ({
        account_id: accountId, table_name: 'articles', primary_key_column: 'id', tweet_field: tweetField, response_field: 'replies', response_mode: 'append',
        continue_field: 'keep_going', schedule: '*/5 * * * *', time_zone: 'UTC', long_text_policy: 'reject', status: 'active',
        created_at: storedAt, updated_at: storedAt,
      });
      for (const field of ['tweet_text', 'tweet_text', 'title', 'tweet_text']) await db('kbts_integrations').insert(row(field));
      const applied = await migrateToLatest(db);
      assert.ok(applied.includes('20261202000200_one_integration_per_tweet_field'), applied.join(', '));
      const rows = await db('kbts_integrations').orderBy('id').select('id', 'status', 'paused_reason', 'duplicate_of');
      assert.deepEqual(rows.map((r) => [r.id, r.status, r.duplicate_of]), [[1, 'active', null], [2, 'paused', 1], [3, 'active', null], [4, 'paused', 1]]);
      assert.equal(rows[1].paused_reason,
        'duplicate of integration 1: the same account, table and tweet field, so each new record would be tweeted twice; remove this integration (integration 1 goes on tweeting)');
    } finally {
      await db.destroy();
    }
    const listed = await world.cli(['--json', 'integration', 'list']);
    assert.deepEqual(listed.json.integrations.map((i: { id: number; duplicate_of: number | null }) => [i.id, i.duplicate_of]), [[1, null], [2, 1], [3, null], [4, 1]]);
    const services = await world.services();
    await assert.rejects(resumeIntegration(services.integrationSetup, 2), /integration 2 is not resumed: integration 1 already tweets 'tweet_text' of table 'articles' from account 1/);
    await services.integrations.remove(1);
    const resumed = await resumeIntegration(services.integrationSetup, 2);
    assert.deepEqual([resumed.status, resumed.duplicateOf], ['active', null], 'with its twin gone, a marked one is resumed and is no twin any more');
    await assert.rejects(resumeIntegration(services.integrationSetup, 4), /integration 4 is not resumed: integration 2 already tweets 'tweet_text'/);
  });
});
