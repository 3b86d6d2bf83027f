import assert from 'node:assert/strict';
import { firstRun, freePort, hiddenFields, runNow, sandboxReply, signInAdmin, tweetLink } from '../support/serve-admin';
import { describeEachDatabase, TestEnv } from '../support/test-env';
import { until } from '../support/webhook-product';

describeEachDatabase('serve restarted: the sandbox keeps its users, tweets and replies', (database) => {
  let world: TestEnv;
  let port: number;

  beforeEach(async function () {
    this.timeout(30_000);
    world = await TestEnv.create(database);
    port = await freePort();
  });

  afterEach(async () => {
    await world?.close();
  });

  it('a record\'s tweet link opens its tweet after the restart, the user id stays, the reply is not written twice', async function () {
    this.timeout(90_000);
    let server = await world.startServe({ PORT: String(port) });
    let accountId: number;
    let integrationId: number;
    let before: { href: string; tweetId: string; userId: string; replyId: string };
    try {
      await firstRun(server.url);
      const agent = await signInAdmin(server.url);
      const form = await agent.get('/accounts/new');
      const added = await agent.post('/accounts').type('form').send({ ...hiddenFields(form.text), description: 'Restart desk', environment: 'sandbox' });
      assert.equal(added.status, 303, 'the sandbox account is added');
      const account = (await world.asNewProcess(async (services) => services.accounts.list()))[0];
      accountId = account.id;
      assert.equal(account.screenName, 'kb_restart_desk');
      integrationId = await world.addArticlesIntegration(accountId, { every: '0 0 1 1 *' });
      await world.sql("INSERT INTO articles (title, tweet_text) VALUES ('Kept', 'A tweet that outlives the server')");
      // The daemon may tweet it on commit before "Run now" does: either way it is tweeted once.
      await runNow(agent, integrationId);

      const link = await tweetLink(agent, '/records/articles/rows/1');
      const replyId = await sandboxReply(agent, accountId, link.tweetId, 'alice', 'Said before the restart');
      // The sandbox delivers the reply to the server by webhook.
      await until('the reply in the record', async () => /Said before the restart/.test((await world.sql<{ replies: string | null }>('SELECT replies FROM articles WHERE id = 1'))[0].replies ?? ''));
      before = { ...link, userId: account.xUserId as string, replyId };
      assert.ok(before.userId, 'the login test recorded the user id');
    } finally {
      await server.stop();
    }

    server = await world.startServe({ PORT: String(port) });
    try {
      const agent = await signInAdmin(server.url);
      const link = await tweetLink(agent, '/records/articles/rows/1');
      assert.deepEqual(link, { href: before.href, tweetId: before.tweetId });
      const page = (await agent.get(link.href.split('#')[0])).text;
      assert.match(page, new RegExp(`id="tweet-${before.tweetId}"[\\s\\S]*A tweet that outlives the server`), 'the sandbox page shows the tweet');
      assert.match(page, new RegExp(`id="tweet-${before.replyId}"[\\s\\S]*Said before the restart`), 'and the reply made before the restart');

      // The login test after the restart finds the same user id: the keys came back to the same user.
      const tested = await agent.post(`/accounts/${accountId}`).type('form')
        .send({ ...hiddenFields((await agent.get(`/accounts/${accountId}`)).text), intent: 'test', description: 'Restart desk', environment: 'sandbox' });
      assert.match(tested.text, /Login test passed: logged in as @kb_restart_desk/);
      const account = await world.asNewProcess(async (services) => services.accounts.get(accountId));
      assert.equal(account?.xUserId, before.userId, 'the account keeps its X user id');

      // Reading X again finds the old reply already written, and a new one once.
      await sandboxReply(agent, accountId, before.tweetId, 'bob', 'Said after the restart');
      await until('the new reply in the record', async () => /Said after the restart/.test((await world.sql<{ replies: string | null }>('SELECT replies FROM articles WHERE id = 1'))[0].replies ?? ''));
      // A poll after the webhook finds nothing new to write: the old reply is not taken in again.
      assert.match(await runNow(agent, integrationId), /replies applied 0/);
      const [row] = await world.sql<{ replies: string }>('SELECT replies FROM articles WHERE id = 1');
      assert.equal(row.replies.match(/Said before the restart/g)?.length, 1, 'the reply from before the restart is in the record once');
      assert.match(row.replies, /@bob: Said after the restart/);
      const logged = await world.sql<{ n: number | string }>("SELECT COUNT(*) AS n FROM kbts_communications WHERE direction = 'in'");
      assert.equal(Number(logged[0].n), 2, 'each reply logged once');
    } finally {
      await server.stop();
    }
  });
});
