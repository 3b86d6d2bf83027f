import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { BrowserTab, launchChromium } from '../support/browser';
import { firstRun, freePort, hiddenFields, runNow, sandboxReply, signInAdmin, tweetLink } from '../support/serve-admin';
import { TestEnv } from '../support/test-env';
import { until } from '../support/webhook-product';

describe('Chromium: a record\'s tweet link still opens its tweet after serve restarts', function () {
  this.timeout(120_000);
  let world: TestEnv;
  let browser: Browser;
  let tab: BrowserTab | undefined;

  before(async () => {
    world = await TestEnv.create();
    browser = await launchChromium();
  });

  after(async () => {
    await tab?.close();
    await browser?.close();
    await world?.close();
  });

  it('follows the link from the record page to the tweet and its reply on the sandbox page', async () => {
    const port = await freePort();
    let server = await world.startServe({ PORT: String(port) });
    let tweetId: string;
    let replyId: string;
    try {
      await firstRun(server.url);
      const agent = await signInAdmin(server.url);
      const form = await agent.get('/accounts/new');
      await agent.post('/accounts').type('form').send({ ...hiddenFields(form.text), description: 'Browser desk', environment: 'sandbox' });
      const [account] = await world.asNewProcess(async (services) => services.accounts.list());
      const integrationId = await world.addArticlesIntegration(account.id, { every: '0 0 1 1 *' });
      await world.sql("INSERT INTO articles (title, tweet_text) VALUES ('Kept', 'Still here after the restart')");
      // The daemon may tweet it on commit before "Run now" does: either way it is tweeted once.
      await runNow(agent, integrationId);
      ({ tweetId } = await tweetLink(agent, '/records/articles/rows/1'));
      replyId = await sandboxReply(agent, account.id, tweetId, 'alice', 'Replied before the restart');
      // The sandbox delivers the reply to the server by webhook.
      await until('the reply in the record', async () => /Replied before the restart/.test((await world.sql<{ replies: string | null }>('SELECT replies FROM articles WHERE id = 1'))[0].replies ?? ''));
    } finally {
      await server.stop();
    }

    server = await world.startServe({ PORT: String(port) });
    try {
      tab = await BrowserTab.open(browser, server.url, 'sandbox-restart');
      await tab.signIn('admin');
      const { page } = tab;
      await page.goto('/records/articles/rows/1');
      await Promise.all([page.waitForURL(/\/sandbox\/accounts\/\d+#tweet-\d+$/), page.click(`a:has-text("${tweetId}")`)]);
      assert.equal(new URL(page.url()).hash, `#tweet-${tweetId}`);
      const tweet = page.locator(`#tweet-${tweetId}`);
      assert.equal(await tweet.isVisible(), true, 'the linked tweet is on the page');
      assert.equal((await tweet.locator('> .text').textContent())?.trim(), 'Still here after the restart');
      assert.equal((await page.locator(`#tweet-${replyId} .text`).textContent())?.trim(), '@kb_browser_desk Replied before the restart');
      await tab.screenshot('tweet-after-restart');
      assert.deepEqual(tab.pageErrors, [], 'no script errors and no Content-Security-Policy violations');
    } finally {
      await server.stop();
    }
  });
});
