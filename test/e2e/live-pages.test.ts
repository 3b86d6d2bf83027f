import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, signedInTab, type BrowserTab } from '../support/browser';
import { describeEachDatabase } from '../support/test-env';
import { PASSWORD, WebWorld } from '../support/web-world';

/** Marks the page's window, so a test can tell that what it saw came without a reload. */
async function markWindow(page: Page): Promise<void> {
  await page.evaluate('window.liveTestMark = "not reloaded"');
}

async function stillSameWindow(page: Page): Promise<boolean> {
  return (await page.evaluate('window.liveTestMark')) === 'not reloaded';
}

async function waitUntilLive(tab: BrowserTab): Promise<void> {
  await tab.page.waitForSelector('.live-status[data-state="live"]');
}

describeEachDatabase('live pages in Chromium: new tweets, replies and polls appear without a reload', (database) => {
  let world: WebWorld;
  let browser: Browser;
  let integrationId: number;
  const tabs: BrowserTab[] = [];

  /** `poll --once` on services of its own, as another process on the same database. */
  const pollFromAnotherProcess = () => world.env.pollOnce({ PORT: new URL(world.url).port });

  async function insertArticle(title: string): Promise<string> {
    const [row] = await world.env.sql<{ id: number }>('INSERT INTO articles (title, tweet_text) VALUES (?, ?) RETURNING id', [title, `${title}, tweeted`]);
    return String(row.id);
  }

  async function tab(username: string, role: 'admin' | 'viewer'): Promise<BrowserTab> {
    const opened = await signedInTab(browser, world, username, role, `live-${database}-${username}`);
    tabs.push(opened);
    return opened;
  }

  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });
  beforeEach(async () => {
    world = await WebWorld.create({ database });
    ({ integrationId } = await world.withSandboxIntegration({ username: 'kb_live_browser' }));
  });
  afterEach(async () => {
    for (const opened of tabs.splice(0)) {
      assert.deepEqual(opened.pageErrors, [], 'no script errors and no CSP violations');
      await opened.close();
    }
    await world.close();
  });

  it('a record\'s page shows its tweet link, then a new reply, as other processes poll', async () => {
    const key = await insertArticle('Watched in the browser');
    const viewer = await tab('vera', 'viewer');
    const { page } = viewer;
    await page.goto(`/records/articles/rows/${key}`);
    await page.waitForSelector('.badge.state-pending');
    await waitUntilLive(viewer);
    await markWindow(page);

    assert.equal((await pollFromAnotherProcess()).published, 1);
    const { tweetId } = (await world.services.publications.findByRecord(integrationId, key))!;
    await page.waitForSelector(`a[href="/sandbox/accounts/1#tweet-${tweetId}"]`);
    assert.equal(await page.textContent('.publication .badge'), 'sent');

    world.sandbox.postAs({ as: 'reader', text: 'Seen without reloading', in_reply_to_tweet_id: tweetId! });
    assert.equal((await pollFromAnotherProcess()).replies_applied, 1);
    await page.waitForSelector('.conversation li.in >> text=Seen without reloading');
    assert.match(await page.textContent('.response pre.value') ?? '', /@reader: Seen without reloading/, 'the response field shows the reply too');
    assert.equal(await stillSameWindow(page), true, 'the page changed in place');
    assert.equal(await page.getAttribute('.live-status', 'data-state'), 'live');
    await viewer.screenshot('record-updated');
  });

  it('the dashboard shows the last poll and the counts of a poll made by another process', async () => {
    const admin = await tab('ada', 'admin');
    const { page } = admin;
    await page.goto('/');
    const lastPoll = page.locator(`#integration-${integrationId} .facts div:has(dt:text-is("Last reply poll")) dd`);
    assert.equal((await lastPoll.textContent())?.trim(), '—');
    await waitUntilLive(admin);
    await markWindow(page);
    await insertArticle('Counted');
    await pollFromAnotherProcess();
    await lastPoll.filter({ hasNotText: '—' }).waitFor();
    await page.waitForSelector(`#integration-${integrationId} .counts li:has-text("sent") .count:text-is("1")`);
    assert.equal(await stillSameWindow(page), true);
    await admin.screenshot('dashboard-updated');
  });

  it('the communications log gets a new row', async () => {
    const viewer = await tab('vera', 'viewer');
    const { page } = viewer;
    await page.goto('/communications');
    await page.waitForSelector('text=Nothing logged yet');
    await waitUntilLive(viewer);
    await markWindow(page);
    await insertArticle('Logged live');
    await pollFromAnotherProcess();
    await page.waitForSelector('table.log tbody tr >> text=Logged live, tweeted');
    assert.equal(await stillSameWindow(page), true);
    await viewer.screenshot('communications-updated');
  });

  it('says "reconnecting…" while the connection is down, and shows what was missed once it is back', async () => {
    const viewer = await tab('vera', 'viewer');
    const { page } = viewer;
    await page.goto('/communications');
    await waitUntilLive(viewer);
    await markWindow(page);
    // Offline keeps the browser from coming back; the server's side of the stream is cut.
    await viewer.context.setOffline(true);
    world.server.closeAllConnections();
    await page.waitForSelector('.live-status[data-state="reconnecting"]');
    assert.equal((await page.textContent('.live-status'))?.trim(), 'reconnecting…');
    await insertArticle('Missed while offline');
    await pollFromAnotherProcess();
    await viewer.context.setOffline(false);
    await waitUntilLive(viewer);
    await page.waitForSelector('table.log tbody tr >> text=Missed while offline, tweeted');
    assert.equal(await stillSameWindow(page), true);
    // The browser logs the dropped connection itself; that is the point of this test, not a script error.
    viewer.pageErrors.splice(0, viewer.pageErrors.length, ...viewer.pageErrors.filter((error) => !/ERR_INTERNET_DISCONNECTED|ERR_INCOMPLETE_CHUNKED_ENCODING|ERR_NETWORK_CHANGED/.test(error)));
  });

  it('without JavaScript the three pages render fully, and a reload shows what changed', async () => {
    const key = await insertArticle('Read without scripts');
    await pollFromAnotherProcess();
    const { tweetId } = (await world.services.publications.findByRecord(integrationId, key))!;
    world.sandbox.postAs({ as: 'reader', text: 'Read after a reload', in_reply_to_tweet_id: tweetId! });
    await world.createUser('ada', 'admin');
    const context = await browser.newContext({ baseURL: world.url, javaScriptEnabled: false });
    try {
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      await page.goto('/login');
      await page.fill('#username', 'ada');
      await page.fill('#password', PASSWORD);
      await Promise.all([page.waitForURL((url) => !url.pathname.startsWith('/login')), page.click('button[type=submit]')]);

      await page.goto(`/records/articles/rows/${key}`);
      assert.equal(await page.textContent('.publication .badge'), 'sent');
      assert.ok(await page.isHidden('.live-status'), 'no live indicator without the script');
      assert.equal(await page.locator('.conversation li.in').count(), 0);
      await pollFromAnotherProcess();
      await page.reload();
      await page.waitForSelector('.conversation li.in >> text=Read after a reload');

      await page.goto('/');
      await page.waitForSelector(`#integration-${integrationId} .counts li:has-text("sent") .count:text-is("1")`);
      await page.waitForSelector(`#integration-${integrationId} button:has-text("Run now")`);
      await page.goto('/communications');
      assert.equal(await page.locator('table.log tbody tr').count(), 2, 'the tweet and the reply');
    } finally {
      await context.close();
    }
  });
});
