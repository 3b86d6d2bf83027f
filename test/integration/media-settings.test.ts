import assert from 'node:assert/strict';
import { TestEnv } from '../support/test-env';

describe('the media field on the command line', function () {
  // Each check is a command-line process of its own.
  this.timeout(120_000);
  let world: TestEnv;
  let accountId: number;
  afterEach(async () => world.close());

  beforeEach(async () => {
    world = await TestEnv.create('sqlite');
    await world.sql('CREATE TABLE articles (id INTEGER PRIMARY KEY, tweet_text TEXT, replies TEXT, keep_going TEXT, media TEXT, picture BLOB, views INTEGER)');
    accountId = await world.addAccount(await world.createXUser('kb_news'));
  });

  const add = (extra: string[]) => world.cli(['--json', 'integration', 'add', '--account', String(accountId), '--table', 'articles',
    '--tweet-field', 'tweet_text', '--response-field', 'replies', '--mode', 'append', '--continue-field', 'keep_going', ...extra]);

  it('takes --media-field on integration add and update, and "none" removes it', async () => {
    const added = await add(['--media-field', 'media']);
    assert.equal(added.code, 0, added.stderr);
    const listed = await world.cli(['--json', 'integration', 'list']);
    assert.equal(listed.json.integrations[0].media_field, 'media');
    const toBlob = await world.cli(['--json', 'integration', 'update', String(added.json.id), '--media-field', 'picture']);
    assert.equal(toBlob.code, 0, toBlob.stderr);
    assert.equal(toBlob.json.media_field, 'picture');
    const removed = await world.cli(['--json', 'integration', 'update', String(added.json.id), '--media-field', 'none']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal(removed.json.media_field, null);
  });

  it('refuses a media field the live schema does not allow, in words, with a non-zero exit', async () => {
    const missing = await add(['--media-field', 'photos']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /column 'photos' does not exist in table 'articles'/);
    const number = await add(['--media-field', 'views']);
    assert.notEqual(number.code, 0);
    assert.match(number.stderr, /the media field 'views' is of type INTEGER; it must hold file paths \(a text column\) or the file itself \(a BLOB or bytea column\)/);
    const same = await add(['--media-field', 'tweet_text']);
    assert.match(same.stderr, /the media field and the tweet field are the same column 'tweet_text'/);
    assert.equal((await world.cli(['--json', 'integration', 'list'])).json.integrations.length, 0);
  });
});
