import assert from 'node:assert/strict';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { decode, flashText } from '../support/html';
import { describeEachDatabase } from '../support/test-env';
import { WebWorld, type Agent } from '../support/web-world';

/** The text of the element with this id (its tags dropped), or null when the page has none. */
function byId(html: string, id: string): string | null {
  const match = new RegExp(`<(\\w+)[^>]*id="${id}"[^>]*>([\\s\\S]*?)</\\1>`).exec(html);
  return match ? decode(match[2].replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim()) : null;
}

describeEachDatabase('web app: estimated X costs, budgets and prices where they are decided', (database) => {
  let world: WebWorld;
  let admin: Agent;
  let accountId: number;
  let integrationId: number;

  beforeEach(async () => {
    world = await WebWorld.create({ database });
    ({ accountId, integrationId } = await world.withSandboxIntegration());
    admin = await world.signIn('ada', 'admin');
  });
  afterEach(async () => world.close());

  const postBudget = async (budget: string) => admin.post(`/accounts/${accountId}/budget`).type('form')
    .send({ _csrf: await world.csrf(admin, '/accounts'), budget });

  it('shows today\'s and this month\'s estimate on the dashboard and the X accounts page, warns at 80 % and says when the budget stopped the account', async () => {
    await world.services.db('articles').insert({ title: 'a', tweet_text: 'Read example.com/a', keep_going: 'Yes' });
    assert.equal((await runPollCycle(world.services.sync)).published, 1);
    const estimate = await world.services.costs.meter.estimate(accountId);
    assert.ok(estimate.today.units.post_created_with_url === 1);

    const dashboard = (await admin.get('/')).text;
    const row = byId(dashboard, `x-cost-${accountId}`) ?? '';
    assert.match(row, /@kb_web \$0\.2\d\d \$0\.2\d\d none/, row);
    assert.ok(row.includes(`$${estimate.today.usd.toFixed(3)}`), `${row} shows ${estimate.today.usd}`);
    assert.equal(byId(dashboard, `x-cost-warning-${accountId}`), null);

    const saved = await postBudget('0.25');
    assert.equal(saved.status, 303);
    assert.match(flashText((await admin.get('/accounts')).text), /monthly budget \$0\.250/);
    const warned = (await admin.get('/')).text;
    assert.match(byId(warned, `x-cost-warning-${accountId}`) ?? '', /@kb_web has used 8\d % of its monthly X budget \(\$0\.2\d\d of \$0\.250\); at 100 % its work waits/);

    const accounts = (await admin.get('/accounts')).text;
    assert.ok(accounts.includes(`action="/accounts/${accountId}/budget"`));
    assert.match(accounts, /name="budget" size="8" value="0.25"/);
    assert.ok((byId(accounts, `x-cost-${accountId}`) ?? '').includes(`$${estimate.month.usd.toFixed(3)}`));

    // Lowered under what is spent: the next call is refused before it is made, and the pages say why.
    await postBudget('0.1');
    await world.services.db('articles').insert({ title: 'b', tweet_text: 'Plain', keep_going: 'Yes' });
    await runPollCycle(world.services.sync);
    const stopped = (await admin.get('/')).text;
    assert.match(byId(stopped, `x-cost-stop-${accountId}`) ?? '', /monthly X budget of \$0\.100 is reached/);
    assert.match(stopped, /Paused: the account&#39;s monthly X budget of \$0\.100 is reached/);
    const record = (await admin.get('/records/articles/rows/2')).text;
    assert.match(byId(record, 'record') ?? decode(record), /Integration #\d+ is paused: the account's monthly X budget/);
    assert.equal((await world.services.publications.findByRecord(integrationId, '2'))?.state, 'pending');
  });

  it('refuses a budget of 0, a negative one or text on the accounts page in words, keeping the one set', async () => {
    await postBudget('12');
    for (const [given, said] of [['0', /must be more than \$0/], ['-3', /must be more than \$0/], ['a lot', /an amount of US dollars such as 25 or 12\.50/]] as const) {
      const refused = await postBudget(given);
      assert.equal(refused.status, 303);
      const flash = flashText((await admin.get('/accounts')).text);
      assert.ok(flash.includes(`the budget “${given}” was not saved`), flash);
      assert.match(flash, said);
    }
    assert.equal((await world.services.costs.meter.estimate(accountId)).monthlyBudgetUsd, 12);
  });

  it('the wizard\'s review says when the newest text contains a URL, and the backfill offer shows its estimated cost', async () => {
    // The titles are tweeted by the new integration (integration 1 tweets tweet_text).
    const review = async () => {
      const page = await admin.post('/integrations/new').type('form').send({
        _csrf: await world.csrf(admin, '/integrations/new'), step: '3', nav: 'next', accountId: String(accountId), table: 'articles', tweetField: 'title',
        responseField: 'replies', responseMode: 'append', continueField: 'keep_going', frequency: '5', timeZone: 'UTC', longTextPolicy: 'reject',
      });
      assert.match(page.text, /4\. Review/);
      return page.text;
    };
    await world.services.db('articles').insert({ title: 'Plain words', keep_going: 'Yes' });
    const plain = await review();
    assert.equal(byId(plain, 'url-price-note'), null, 'a text without a URL costs the plain price');
    assert.equal(byId(plain, 'backfill-cost'), '(estimated X cost about $0.015: 0 with a URL at $0.200, the others at $0.015)');

    await world.services.db('articles').insert([
      { title: 'More plain words', keep_going: 'Yes' }, { title: 'See https://example.org/c', keep_going: 'Yes' }, { title: 'Newest at example.com', keep_going: 'Yes' },
    ]);
    const withUrls = await review();
    assert.equal(byId(withUrls, 'url-price-note'), 'This text contains a URL: X charges the URL price for such a post, $0.200 instead of $0.015.');
    // Four records: two with a URL at $0.20, two plain at $0.015.
    assert.equal(byId(withUrls, 'backfill-cost'), '(estimated X cost about $0.430: 2 with a URL at $0.200, the others at $0.015)');
  });
});
