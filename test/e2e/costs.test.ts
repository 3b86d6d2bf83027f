import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { launchChromium, signedInTab, type BrowserTab, endBrowserTest } from '../support/browser';
import { describeEachDatabase } from '../support/test-env';
import { WebWorld } from '../support/web-world';

describeEachDatabase('X prices and costs on the pages, in Chromium', (database) => {
  let browser: Browser;
  let world: WebWorld;
  let accountId: number;
  let integrationId: number;
  let tab: BrowserTab;

  before(async () => { browser = await launchChromium(); });
  after(async () => { await browser?.close(); });

  beforeEach(async function () {
    world = await WebWorld.create({ database });
    ({ accountId, integrationId } = await world.withSandboxIntegration());
    tab = await signedInTab(browser, world, 'ada', 'admin', `costs-${database}-${this.currentTest?.title.slice(0, 40).replace(/\W+/g, '-')}`);
  });

  afterEach(async function () { await endBrowserTest(this.currentTest, tab, world); });

  const page = () => tab.page;

  it('the record form\'s counter says when the text contains a URL and so costs the URL price', async () => {
    await page().goto('/records/articles/new');
    const counter = page().locator(`#counter-${integrationId} .counter-text`);
    await page().fill('#field-tweet_text', 'A plain sentence');
    const note = page().locator(`#counter-${integrationId} .url-price-note`);
    assert.equal(await counter.textContent(), '16 of 280');
    assert.equal(await note.isVisible(), false);
    await page().fill('#field-tweet_text', 'Read example.com/guide');
    assert.equal(await counter.textContent(), '28 of 280');
    assert.equal(await note.isVisible(), true);
    assert.equal(await note.textContent(), ' · contains a URL: X charges the URL price, $0.200 instead of $0.015 for this post');
    assert.match(await page().locator(`#counter-${integrationId}`).getAttribute('class') ?? '', /\burl-price\b/);
    await tab.screenshot('counter-url-price');
  });

  it('the dashboard and the X accounts page show today\'s and this month\'s estimate', async () => {
    await world.services.db('articles').insert({ title: 'a', tweet_text: 'Plain text', keep_going: 'Yes' });
    assert.equal((await runPollCycle(world.services.sync)).published, 1);
    const usd = (await world.services.costs.meter.estimate(accountId)).today.usd;
    for (const path of ['/', '/accounts']) {
      await page().goto(path);
      assert.equal(await page().locator(`#x-cost-${accountId} .x-cost-today`).textContent(), `$${usd.toFixed(3)}`);
      assert.equal(await page().locator(`#x-cost-${accountId} .x-cost-month`).textContent(), `$${usd.toFixed(3)}`);
    }
    await page().fill(`#x-cost-${accountId} input[name=budget]`, '0');
    await page().click(`#x-cost-${accountId} button[type=submit]`);
    assert.match(await tab.flash(), /the budget “0” was not saved: a monthly budget must be more than \$0/);
  });
});
