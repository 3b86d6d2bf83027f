import assert from 'node:assert/strict';
import net from 'node:net';
import supertest from 'supertest';
import { describeEachDatabase, TestEnv } from '../support/test-env';
import { csrfFrom, PASSWORD } from '../support/web-world';

type Agent = ReturnType<typeof supertest.agent>;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** The hidden inputs of the first form on a page (CSRF and form tokens), to send with its fields. */
function hiddenFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const match of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) fields[match[1]] ??= match[2];
  return fields;
}

async function signIn(url: string): Promise<Agent> {
  const agent = supertest.agent(url);
  const page = await agent.get('/login');
  const response = await agent.post('/login').type('form').send({ _csrf: csrfFrom(page.text), username: 'admin', password: PASSWORD });
  assert.equal(response.status, 303, 'the admin signs in');
  return agent;
}

async function runNow(agent: Agent, integrationId: number): Promise<string> {
  await agent.post(`/integrations/${integrationId}/run`).type('form').send({ _csrf: csrfFrom((await agent.get('/')).text) });
  const dashboard = (await agent.get('/')).text;
  return /class="flash[^"]*"[^>]*>([^<]*)/.exec(dashboard)?.[1] ?? '';
}

/** The record page's link to its tweet, and the tweet id in it. */
async function tweetLink(agent: Agent): Promise<{ href: string; tweetId: string }> {
  const page = (await agent.get('/records/articles/rows/1')).text;
  const match = /href="(\/sandbox\/accounts\/\d+#tweet-(\d+))"/.exec(page);
  assert.ok(match, 'the record page links to its tweet on the sandbox page');
  return { href: match[1], tweetId: match[2] };
}

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
      const first = supertest.agent(server.url);
      const setup = await first.get('/setup');
      await first.post('/setup').type('form').send({ ...hiddenFields(setup.text), username: 'admin', password: PASSWORD, passwordRepeat: PASSWORD, exampleTable: 'on' });
      const agent = await signIn(server.url);
      const form = await agent.get('/accounts/new');
      const added = await agent.post('/accounts').type('form').send({ ...hiddenFields(form.text), description: 'Restart desk', environment: 'sandbox' });
      assert.equal(added.status, 303, 'the sandbox account is added');
      const account = (await world.asNewProcess(async (services) => services.accounts.list()))[0];
      accountId = account.id;
      assert.equal(account.screenName, 'kb_restart_desk');
      integrationId = await world.addArticlesIntegration(accountId, { every: '0 0 1 1 *' });
      await world.sql("INSERT INTO articles (title, tweet_text) VALUES ('Kept', 'A tweet that outlives the server')");
      assert.match(await runNow(agent, integrationId), /published 1/);

      const link = await tweetLink(agent);
      const sandboxPage = (await agent.get(`/sandbox/accounts/${accountId}`)).text;
      await agent.post(`/sandbox/accounts/${accountId}/replies`).type('form')
        .send({ _csrf: csrfFrom(sandboxPage), inReplyTo: link.tweetId, as: 'alice', text: 'Said before the restart' });
      assert.match(await runNow(agent, integrationId), /replies applied 1/);
      const replyId = /id="tweet-(\d+)"/g.exec(((await agent.get(`/sandbox/accounts/${accountId}`)).text).split(`id="tweet-${link.tweetId}"`)[1])?.[1] as string;
      before = { ...link, userId: account.xUserId as string, replyId };
      assert.ok(before.userId, 'the login test recorded the user id');
    } finally {
      await server.stop();
    }

    server = await world.startServe({ PORT: String(port) });
    try {
      const agent = await signIn(server.url);
      const link = await tweetLink(agent);
      assert.deepEqual(link, { href: before.href, tweetId: before.tweetId });
      const page = (await agent.get(link.href.split('#')[0])).text;
      assert.match(page, new RegExp(`id="tweet-${before.tweetId}"[\\s\\S]*A tweet that outlives the server`), 'the sandbox page shows the tweet');
      assert.match(page, new RegExp(`id="tweet-${before.replyId}"[\\s\\S]*Said before the restart`), 'and the reply made before the restart');
      assert.match(page, new RegExp(`\\b${before.userId}\\b|@kb_restart_desk`));

      // The login test after the restart finds the same user id: the keys came back to the same user.
      const tested = await agent.post(`/accounts/${accountId}`).type('form')
        .send({ ...hiddenFields((await agent.get(`/accounts/${accountId}`)).text), intent: 'test', description: 'Restart desk', environment: 'sandbox' });
      assert.match(tested.text, /Login test passed: logged in as @kb_restart_desk/);
      const account = await world.asNewProcess(async (services) => services.accounts.get(accountId));
      assert.equal(account?.xUserId, before.userId, 'the account keeps its X user id');

      // Reading X again finds the old reply already written, and a new one once.
      await agent.post(`/sandbox/accounts/${accountId}/replies`).type('form')
        .send({ _csrf: csrfFrom(page), inReplyTo: before.tweetId, as: 'bob', text: 'Said after the restart' });
      assert.match(await runNow(agent, integrationId), /replies applied 1/);
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
