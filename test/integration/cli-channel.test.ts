import assert from 'node:assert/strict';
import { createArticlesWorld, type TestEnv } from '../support/test-env';

describe('command line: channel add, list, pause, resume, remove, reply', function () {
  // Each command is a process of its own (a few seconds each on a busy machine).
  this.timeout(240_000);
  let world: TestEnv;
  let accountId: number;

  before(async () => {
    ({ world, accountId } = await createArticlesWorld('sqlite'));
    await world.sql(`CREATE TABLE tickets (id ${world.autoId}, body TEXT, author TEXT, link TEXT, tag TEXT, conversation TEXT, still_open VARCHAR(10), amount INTEGER)`);
  });
  after(async () => {
    await world.close();
  });

  const add = (overrides: Record<string, string | null> = {}) => {
    const options: Record<string, string | null> = {
      account: String(accountId), kind: 'dms', table: 'tickets', 'text-field': 'body', 'author-field': 'author', 'link-field': 'link',
      'response-field': 'conversation', mode: 'append', 'continue-field': 'still_open', 'tag-field': 'tag', ...overrides,
    };
    return world.cli(['--json', 'channel', 'add', ...Object.entries(options).filter(([, value]) => value !== null).flatMap(([name, value]) => [`--${name}`, value as string])]);
  };

  it('refuses bad input with a non-zero exit and the reason, and adds nothing', async () => {
    const cases: Array<[Record<string, string | null>, RegExp]> = [
      [{ kind: 'letters' }, /the kind is mentions or dms, not 'letters'/],
      [{ account: '99' }, /account 99 does not exist/],
      [{ table: 'nope' }, /table 'nope' does not exist in the knowledgebase/],
      [{ 'author-field': 'missing' }, /column 'missing' does not exist in table 'tickets'/],
      [{ 'link-field': 'author' }, /the X link field and the author field are the same column 'author'/],
      [{ 'tag-field': 'amount' }, /the tag field 'amount' is of type/],
      [{ 'text-field': 'conversation' }, /the text field and the response field are the same column 'conversation'/],
      [{ mode: 'sideways' }, /the response mode is one of append, prepend, overwrite, not 'sideways'/],
      [{ table: 'articles', 'text-field': 'tweet_text', 'author-field': 'title', 'link-field': 'title', 'response-field': 'replies', 'continue-field': 'keep_going', 'tag-field': null }, /tweeted by integration/],
    ];
    for (const [overrides, reason] of cases) {
      const result = await add(overrides);
      assert.equal(result.code, 1, `${JSON.stringify(overrides)}: ${result.stdout}${result.stderr}`);
      assert.match(result.json.error, reason);
    }
    const missing = await world.cli(['--json', 'channel', 'add', '--account', String(accountId)]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /required option/);
    assert.deepEqual((await world.cli(['--json', 'channel', 'list'])).json, { channels: [] });
  });

  it('adds, lists, pauses, resumes and removes a channel; a second of the same kind is refused; reply queues a DM for a record', async () => {
    const added = await add();
    assert.equal(added.code, 0, added.stderr);
    assert.equal(added.json.kind, 'dms');
    assert.equal(added.json.status, 'active');
    const id = String(added.json.id);
    const twice = await add();
    assert.equal(twice.code, 1);
    assert.match(twice.json.error, new RegExp(`already has a dms channel \\(channel ${id}\\)`));

    const listed = await world.cli(['--json', 'channel', 'list']);
    assert.deepEqual(listed.json.channels.map((c: { id: number; table: string; tag_field: string }) => [c.id, c.table, c.tag_field]), [[Number(id), 'tickets', 'tag']]);
    assert.equal((await world.cli(['--json', 'channel', 'pause', id])).json.status, 'paused');
    assert.equal((await world.cli(['--json', 'channel', 'resume', id])).json.status, 'active');

    const noOne = await world.cli(['--json', 'channel', 'reply', id, '--record', '1', '--text', 'hello']);
    assert.equal(noOne.code, 1);
    assert.match(noOne.json.error, /holds no direct message of channel/);
    const notANumber = await world.cli(['--json', 'channel', 'pause', 'abc']);
    assert.equal(notANumber.code, 1);
    assert.match(notANumber.json.error, /channel id must be a positive whole number/);
    const unknown = await world.cli(['--json', 'channel', 'remove', '42']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.json.error, /channel 42 does not exist/);

    // X credits used up: the account's work waits, its channels with it, and the list says why.
    assert.equal(listed.json.channels[0].account_hold, null);
    await world.control('POST', '/users/kb_news/credits', { depleted: true });
    await world.sql("INSERT INTO articles (title, tweet_text, keep_going) VALUES ('one', 'Costs money', 'Yes')");
    assert.notEqual((await world.cli(['--json', 'poll', '--once'])).code, 0);
    const held = await world.cli(['--json', 'channel', 'list']);
    assert.match(held.json.channels[0].account_hold, /^X credits are used up; add credits in the X developer console, then resume/);
    await world.control('POST', '/users/kb_news/credits', { depleted: false });

    assert.equal((await world.cli(['--json', 'channel', 'remove', id])).json.removed, true);
    assert.deepEqual((await world.cli(['--json', 'channel', 'list'])).json, { channels: [] });
  });
});
