import assert from 'node:assert/strict';
import net from 'node:net';
import supertest from 'supertest';
import { csrfFrom, PASSWORD } from './web-world';
import { until } from './webhook-product';

export type ServeAgent = ReturnType<typeof supertest.agent>;

/** A free loopback port: a sandbox account's API address comes from PORT, so `serve` needs a known one. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** The hidden inputs of a page's forms (CSRF and form tokens; the first of each name), to send with a form's fields. */
export function hiddenFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const match of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) fields[match[1]] ??= match[2];
  return fields;
}

/** The first-run form of a new `serve`: the admin "admin" (PASSWORD) and the example table. */
export async function firstRun(url: string): Promise<void> {
  const agent = supertest.agent(url);
  const setup = await agent.get('/setup');
  const done = await agent.post('/setup').type('form').send({ ...hiddenFields(setup.text), username: 'admin', password: PASSWORD, passwordRepeat: PASSWORD, exampleTable: 'on' });
  assert.equal(done.status, 303, 'the first-run form is accepted');
}

export async function signInAdmin(url: string): Promise<ServeAgent> {
  const agent = supertest.agent(url);
  const page = await agent.get('/login');
  const response = await agent.post('/login').type('form').send({ _csrf: csrfFrom(page.text), username: 'admin', password: PASSWORD });
  assert.equal(response.status, 303, 'the admin signs in');
  return agent;
}

/** "Run now" on the dashboard; answers the flash it leaves. */
export async function runNow(agent: ServeAgent, integrationId: number): Promise<string> {
  await agent.post(`/integrations/${integrationId}/run`).type('form').send({ _csrf: csrfFrom((await agent.get('/')).text) });
  const dashboard = (await agent.get('/')).text;
  return /class="flash[^"]*"[^>]*>([^<]*)/.exec(dashboard)?.[1] ?? '';
}

/** A reply on the sandbox page, as `as`, to a tweet; answers the reply's tweet id. */
export async function sandboxReply(agent: ServeAgent, accountId: number, inReplyTo: string, as: string, text: string): Promise<string> {
  const page = (await agent.get(`/sandbox/accounts/${accountId}`)).text;
  const posted = await agent.post(`/sandbox/accounts/${accountId}/replies`).type('form').send({ _csrf: csrfFrom(page), inReplyTo, as, text });
  const id = /#tweet-(\d+)$/.exec(String(posted.headers.location))?.[1];
  assert.ok(id && id !== inReplyTo, `the sandbox took the reply (went to ${String(posted.headers.location)})`);
  return id;
}

/** The record page's link to its tweet, and the tweet id in it. */
export async function tweetLink(agent: ServeAgent, recordPath: string): Promise<{ href: string; tweetId: string }> {
  // The daemon tweets on commit, so the record may still be on its way out: wait a little for it.
  const match = await until('the record page to link to its tweet on the sandbox page', async () =>
    /href="(\/sandbox\/accounts\/\d+#tweet-(\d+))"/.exec((await agent.get(recordPath)).text));
  return { href: match[1], tweetId: match[2] };
}
