import assert from 'node:assert/strict';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { startWebhooks } from '../../src/sync/webhooks';
import { toIso } from '../../src/lib/clock';
import { flashText } from '../support/html';
import { describeEachDatabase } from '../support/test-env';
import { WebWorld, type Agent } from '../support/web-world';

async function until<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describeEachDatabase('web app: real-time replies in the sandbox and on the X accounts page', (database) => {
  let world: WebWorld;
  let admin: Agent;
  let accountId: number;

  beforeEach(async () => {
    world = await WebWorld.create({ database });
    admin = await world.signIn('ada', 'admin');
    ({ accountId } = await world.withSandboxIntegration());
    await world.services.db('articles').insert({ title: 'one', tweet_text: 'What do you think?', keep_going: 'Yes' });
    assert.equal((await runPollCycle(world.services.sync)).published, 1);
  });
  afterEach(async () => world.close());

  const replies = async () => (await world.services.db('articles').where({ id: 1 }).first()).replies as string | null;
  const mentionReads = () => world.sandbox.getCalls().by_endpoint['GET /2/users/:id/mentions'] ?? 0;

  it('a reply made on the sandbox page reaches the record by webhook, without "Run now"', async () => {
    const [tweet] = world.sandbox.listTweets({ author: 'kb_web' });
    const reads = mentionReads();
    const token = await world.csrf(admin, `/sandbox/accounts/${accountId}`);
    const posted = await admin.post(`/sandbox/accounts/${accountId}/replies`).type('form').send({ _csrf: token, inReplyTo: tweet.id, as: 'alice', text: 'Pushed, not polled' });
    assert.equal(posted.status, 303);
    const page = await admin.get(posted.headers.location);
    assert.match(flashText(page.text), /It reaches the record by webhook within a second\./);
    const text = await until('the reply in the record', async () => ((await replies())?.includes('Pushed, not polled') ? replies() : null));
    assert.match(text!, /@alice: Pushed, not polled$/);
    assert.equal(mentionReads(), reads, 'no poll read the mentions');
    await world.services.webhooks.ingestion.idle();
    assert.equal(Number((await world.services.db('kbts_communications').where({ direction: 'in' }).count({ n: '*' }))[0].n), 1);
  });

  it('the X accounts page shows the status and switches it, with CSRF, for admins only', async () => {
    let page = await admin.get(`/accounts/${accountId}`);
    assert.match(page.text, /<h2>Real-time replies<\/h2>/);
    assert.match(page.text, /Off: replies are read by the poll/);
    let token = await world.csrf(admin, `/accounts/${accountId}`);

    const forged = await admin.post(`/accounts/${accountId}/webhook`).type('form').send({ action: 'enable' });
    assert.equal(forged.status, 403);
    const editor = await world.signIn('eve', 'editor');
    const refused = await editor.post(`/accounts/${accountId}/webhook`).type('form').send({ _csrf: await world.csrf(editor, '/me'), action: 'enable' });
    assert.equal(refused.status, 403);
    assert.equal((await world.services.webhooks.status(accountId)).enabled, false);

    const badMinutes = await admin.post(`/accounts/${accountId}/webhook`).type('form').send({ _csrf: token, action: 'enable', backstopMinutes: 'often' });
    assert.equal(badMinutes.status, 303);
    assert.match(flashText((await admin.get(badMinutes.headers.location)).text), /whole number of minutes from 1 to 1440, not 'often'/);

    const on = await admin.post(`/accounts/${accountId}/webhook`).type('form').send({ _csrf: token, action: 'enable', backstopMinutes: '20' });
    assert.equal(on.status, 303);
    assert.equal(on.headers.location, `/accounts/${accountId}#webhook`);
    page = await admin.get(`/accounts/${accountId}`);
    assert.match(flashText(page.text), /Real-time replies are on: X delivers replies and mentions to http:\/\/127\.0\.0\.1:\d+\/webhooks\/x\/\d+; the mentions poll runs every 20 minutes/);
    assert.match(page.text, /On: X delivers this account's replies and mentions/);
    assert.match(page.text, /<dt>Subscriptions<\/dt><dd>post\.reply\.create, post\.mention\.create<\/dd>/);
    assert.doesNotMatch(page.text, new RegExp((await world.services.accounts.credentialsOf(accountId)).apiKeySecret));

    token = await world.csrf(admin, `/accounts/${accountId}`);
    const off = await admin.post(`/accounts/${accountId}/webhook`).type('form').send({ _csrf: token, action: 'disable' });
    assert.equal(off.status, 303);
    assert.match(flashText((await admin.get(off.headers.location)).text), /Real-time replies are off/);
    assert.equal((await world.services.webhooks.status(accountId)).enabled, false);
    // Turned off on purpose: the sandbox page does not turn it back on.
    const [tweet] = world.sandbox.listTweets({ author: 'kb_web' });
    await admin.post(`/sandbox/accounts/${accountId}/replies`).type('form').send({ _csrf: await world.csrf(admin, `/sandbox/accounts/${accountId}`), inReplyTo: tweet.id, as: 'bob', text: 'polled again' });
    assert.equal((await world.services.webhooks.status(accountId)).enabled, false);
  });

  it('serve\'s start registers the sandbox account by itself, and after downtime asks for the missed window', async () => {
    const started = startWebhooks(world.services.webhooks, world.services.accounts, world.services.logger, world.url);
    try {
      await until('the sandbox webhook', async () => (await world.services.webhooks.status(accountId)).valid);
    } finally {
      await started.stop();
    }
    const [tweet] = world.sandbox.listTweets({ author: 'kb_web' });
    // Down: X's deliveries find nobody (lost), then the server comes back after a while.
    world.sandbox.webhooks.addFaults([{ kind: 'lost', count: 2 }]);
    world.sandbox.postAs({ as: 'carol', text: 'while the server was down', in_reply_to_tweet_id: tweet.id });
    await world.sandbox.webhooks.idle();
    assert.equal(await replies(), null);
    await world.services.sync.accountWebhooks!.update(accountId, { aliveAt: toIso(world.services.clock.now().minus({ minutes: 30 })) }, toIso(world.services.clock.now()));
    const again = startWebhooks(world.services.webhooks, world.services.accounts, world.services.logger, world.url);
    try {
      await until('the replayed reply in the record', async () => (await replies())?.includes('while the server was down'));
    } finally {
      await again.stop();
    }
    assert.equal(Number((await world.services.db('kbts_communications').where({ direction: 'in' }).count({ n: '*' }))[0].n), 1);
  });
});
