import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { addAccount } from '../../src/setup/account-setup';
import { addIntegration } from '../../src/setup/integration-setup';
import type { LongTextPolicy } from '../../src/store/integrations';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { counterText } from '../../src/sync/tweet-outcome';
import { weightedLength } from '../../src/twitter/weighted-length';
import { launchChromium, signedInTab, type BrowserTab, endBrowserTest } from '../support/browser';
import { describeEachDatabase } from '../support/test-env';
import { WEIGHING_SAMPLES } from '../support/weighing-samples';
import { PASSWORD, WebWorld } from '../support/web-world';

// Words only SQL (or a driver's report of it) would carry onto a page.
const SQL_WORDS = /insert into|returning|values \(|constraint failed|violates|SQLITE_|articles\.title/i;

const words = (count: number) => Array.from({ length: count }, (_, index) => `w${String(index).padStart(4, '0')}`).join(' ');

describeEachDatabase('records people can act on, in Chromium', (database) => {
  let browser: Browser;
  let world: WebWorld;
  let integrationId: number;
  let tab: BrowserTab;

  before(async () => { browser = await launchChromium(); });
  after(async () => { await browser?.close(); });

  beforeEach(async function () {
    world = await WebWorld.create({ database });
    ({ integrationId } = await world.withSandboxIntegration());
    tab = await signedInTab(browser, world, 'ada', 'admin', `records-act-${database}-${this.currentTest?.title.slice(0, 40).replace(/\W+/g, '-')}`);
  });

  afterEach(async function () { await endBrowserTest(this.currentTest, tab, world); });

  const page = () => tab.page;
  const setPolicy = (policy: LongTextPolicy) => world.services.db('kbts_integrations').update({ long_text_policy: policy });
  const articleCount = async () => Number((await world.services.db('articles').count({ count: '*' }).first())?.count ?? 0);
  const counter = (id = integrationId) => page().locator(`#counter-${id}`);

  /**
   * A double click as a person makes it on a real network: the second click comes once the first
   * request has reached the server, and cancels the first page load in the browser. (Playwright's
   * own dblclick lands both clicks in one task, where Chromium sends one request.) The server's
   * first answer is held until the second request has been answered, so the order is always this.
   */
  async function doubleClick(path: string, button: string): Promise<number> {
    let posts = 0;
    let secondAnswered: () => void = () => undefined;
    const second = new Promise<void>((resolve) => { secondAnswered = resolve; });
    let firstAtServer: () => void = () => undefined;
    const first = new Promise<void>((resolve) => { firstAtServer = resolve; });
    await page().route((url) => url.pathname === path, async (route) => {
      if (route.request().method() !== 'POST') return route.continue();
      const number = ++posts;
      const response = await route.fetch({ maxRedirects: 0 });
      if (number === 1) {
        firstAtServer();
        await second;
      } else {
        secondAnswered();
      }
      // The browser has dropped the first load by now: its answer goes nowhere, as on a network.
      await route.fulfill({ response }).catch(() => undefined);
    });
    // The mouse, not locator.click(): that would wait for the first load to finish.
    await page().locator(button).scrollIntoViewIfNeeded();
    const box = (await page().locator(button).boundingBox())!;
    const [x, y] = [box.x + box.width / 2, box.y + box.height / 2];
    await page().mouse.click(x, y);
    await first;
    const loaded = page().waitForEvent('load');
    await page().mouse.click(x, y);
    await loaded;
    await page().unroute((url) => url.pathname === path);
    return posts;
  }

  /** Another tab of the same browser (same session), its script errors counted with the first's. */
  async function secondTab() {
    const second = await tab.context.newPage();
    second.on('pageerror', (error) => tab.pageErrors.push(error.message));
    return second;
  }

  /** Records written straight into the KB (as SQL would), then one run, so their states are real. */
  async function runWith(records: Array<{ title: string; tweet_text: string }>): Promise<void> {
    await world.services.db('articles').insert(records);
    await runPollCycle(world.services.sync, { integrationId });
  }

  describe('the live counter on the record form', () => {
    it('shows "300 of 280: will be rejected" for 300 characters typed under the reject policy', async () => {
      await page().goto('/records/articles/new');
      assert.equal(await counter().isVisible(), true, 'the script shows the counter');
      assert.equal(await counter().locator('.counter-text').textContent(), '0 of 280: empty, nothing to tweet');
      await page().locator('#field-tweet_text').pressSequentially('x'.repeat(20));
      assert.equal(await counter().locator('.counter-text').textContent(), '20 of 280');
      await page().fill('#field-tweet_text', 'x'.repeat(300));
      assert.equal(await counter().locator('.counter-text').textContent(), '300 of 280: will be rejected');
      await tab.screenshot('counter-rejected');
      assert.match(await counter().getAttribute('class') ?? '', /\brefused\b/);
      await page().selectOption('#field-keep_going', 'No');
      assert.equal(await counter().locator('.counter-text').textContent(), '300 of 280: will not be tweeted (continue field is No)');
    });

    it('weighs CJK and emoji as 2 and a URL as 23, exactly as the server weighs them', async () => {
      await page().goto('/records/articles/new');
      for (const sample of WEIGHING_SAMPLES) {
        await page().fill('#field-tweet_text', sample);
        const shown = await counter().locator('.counter-text').textContent() ?? '';
        assert.equal(shown.split(' of ')[0], String(weightedLength(sample)), sample);
        assert.equal(shown, counterText(sample, 'reject'), sample);
      }
      await page().fill('#field-tweet_text', '日本語');
      assert.equal(await counter().locator('.counter-text').textContent(), '6 of 280');
      await page().fill('#field-tweet_text', `see https://example.com/${'a'.repeat(100)}`);
      assert.equal(await counter().locator('.counter-text').textContent(), '27 of 280');
    });

    it('says "will be truncated" and "will be posted in N parts" under those policies', async () => {
      await setPolicy('truncate');
      await page().goto('/records/articles/new');
      await page().fill('#field-tweet_text', 'y'.repeat(300));
      assert.equal(await counter().locator('.counter-text').textContent(), '300 of 280: will be truncated');
      await setPolicy('thread');
      await page().goto('/records/articles/new');
      await page().fill('#field-tweet_text', words(100));
      assert.equal(await counter().locator('.counter-text').textContent(), '599 of 280: will be posted in 3 parts');
      await page().fill('#field-tweet_text', 'short again');
      assert.equal(await counter().locator('.counter-text').textContent(), '11 of 280');
    });

    it('shows one counter per integration tweeting the field, each with its own policy', async () => {
      const other = world.sandbox.createUser({ username: 'kb_second' });
      const account = await addAccount(world.services.accountSetup, {
        description: 'Second account', environment: 'sandbox', apiBaseUrl: null,
        credentials: { apiKey: other.credentials.api_key, apiKeySecret: other.credentials.api_key_secret, accessToken: other.credentials.access_token, accessTokenSecret: other.credentials.access_token_secret },
      });
      const { integration: second } = await addIntegration(world.services.integrationSetup, {
        accountId: account.id, table: 'articles', tweetField: 'tweet_text', responseField: 'replies', responseMode: 'append', continueField: 'keep_going', longTextPolicy: 'thread',
      });
      await page().goto('/records/articles/new');
      await page().fill('#field-tweet_text', words(60));
      assert.equal(await counter().textContent(), `Integration #${integrationId} (long texts: reject): 359 of 280: will be rejected`);
      assert.equal(await counter(second.id).textContent(), `Integration #${second.id} (long texts: thread): 359 of 280: will be posted in 2 parts`);
      await tab.screenshot('counters-two-integrations');
    });
  });

  it('without JavaScript, hides the counter, still creates the record and says in the confirmation what will happen', async () => {
    const context = await browser.newContext({ baseURL: world.url, javaScriptEnabled: false });
    try {
      const plain = await context.newPage();
      await plain.goto('/login');
      await plain.fill('#username', 'ada');
      await plain.fill('#password', PASSWORD);
      await plain.click('button[type=submit]');
      await plain.goto('/records/articles/new');
      assert.equal(await plain.locator(`#counter-${integrationId}`).isHidden(), true, 'no counter that would never count');
      await plain.fill('#field-title', 'No script');
      await plain.fill('#field-tweet_text', '日本語'.repeat(50));
      await plain.click('button:has-text("Create record")');
      assert.match(await plain.locator('.flash').textContent() ?? '', /It will be rejected right away by integration \d+: 300 of 280 weighted characters/);
      assert.equal(await articleCount(), 1);
    } finally {
      await context.close();
    }
  });

  describe('creating a record', () => {
    it('confirms after saving what the next run will do with the text', async () => {
      await page().goto('/records/articles/new');
      await page().fill('#field-title', 'Too long');
      await page().fill('#field-tweet_text', 'z'.repeat(300));
      await page().click('button:has-text("Create record")');
      const flash = await tab.flash();
      assert.match(flash, /It will be rejected right away by integration \d+: 300 of 280 weighted characters \(long-text policy: reject\)\./);
      assert.doesNotMatch(flash, /will be tweeted/);
    });

    it('makes one record from a double click on "Create record"', async () => {
      await page().goto('/records/articles/new');
      await page().fill('#field-title', 'Clicked twice');
      await page().fill('#field-tweet_text', 'Once only');
      assert.equal(await doubleClick('/records/articles', 'button:has-text("Create record")'), 2, 'both clicks reached the server');
      assert.equal(await articleCount(), 1);
      assert.equal(new URL(page().url()).pathname, '/records/articles/rows/1');
      assert.match(await tab.flash(), /already been sent: here is the record it created\. No second record was made\./);
    });

    it('makes one record when two tabs of the same form are both sent', async () => {
      await page().goto('/records/articles/new');
      // A duplicated tab carries the same page, form token included.
      const second = await secondTab();
      await second.goto('/records/articles/new');
      const token = await page().locator('input[name=_form]').inputValue();
      await second.locator('input[name=_form]').evaluate((input, value) => input.setAttribute('value', value), token);
      for (const each of [page(), second]) {
        await each.fill('#field-title', 'Two tabs');
        await each.fill('#field-tweet_text', 'Sent from two tabs');
      }
      await page().click('button:has-text("Create record")');
      await second.click('button:has-text("Create record")');
      assert.equal(await articleCount(), 1);
      assert.equal(new URL(second.url()).pathname, new URL(page().url()).pathname, 'both tabs show the one record');
      assert.match(await second.locator('.flash').textContent() ?? '', /already been sent: here is the record it created\. No second record was made\./);
      await second.close();
    });

    it('makes one record when two tabs of the same form are sent at the same moment', async () => {
      const second = await secondTab();
      const tabs = [page(), second];
      for (const each of tabs) await each.goto('/records/articles/new');
      const token = await page().locator('input[name=_form]').inputValue();
      await second.locator('input[name=_form]').evaluate((input, value) => input.setAttribute('value', value), token);
      for (const each of tabs) {
        await each.fill('#field-title', 'At once');
        await each.fill('#field-tweet_text', 'Both tabs at the same moment');
      }
      await Promise.all(tabs.map((each) => each.click('button:has-text("Create record")')));
      assert.equal(await articleCount(), 1);
      // Each tab shows the record, or (while the other was still saving) says so and makes nothing.
      for (const each of tabs) {
        const shown = new URL(each.url()).pathname === '/records/articles/rows/1';
        if (!shown) assert.match(await each.locator('.form-error').textContent() ?? '', /An earlier submission of this form is still being saved/);
      }
      await second.close();
    });

    it('puts "title is required" beside a blank title, keeps what was typed, and shows no SQL', async () => {
      await page().goto('/records/articles/new');
      assert.equal(await page().locator('#field-title').getAttribute('required'), '', 'the title is marked required from the live schema');
      // As an old browser, or a schema changed since the page loaded: the server must say it too.
      await page().locator('#field-title').evaluate((input) => input.removeAttribute('required'));
      await page().fill('#field-tweet_text', 'Kept as typed');
      await page().click('button:has-text("Create record")');
      assert.equal((await page().locator('#field-title ~ .field-error').textContent())?.trim(), 'title is required');
      await tab.screenshot('title-required');
      assert.equal(await page().locator('#field-tweet_text').inputValue(), 'Kept as typed');
      assert.doesNotMatch(await page().locator('main').textContent() ?? '', SQL_WORDS);
      assert.equal(await articleCount(), 0);
    });
  });

  describe('retrying', () => {
    it('retries a failed record from its page; after a policy change it is tweeted truncated', async () => {
      await runWith([{ title: 'Long one', tweet_text: 'q'.repeat(300) }]);
      await setPolicy('truncate');
      await page().goto('/records/articles/rows/1/edit');
      assert.equal(await counter().locator('.counter-text').textContent(), '300 of 280: will be truncated', 'a failed record\'s text is counted for its retry');
      await page().goto('/records/articles/rows/1');
      assert.equal((await page().locator('.publication .badge').textContent())?.trim(), 'failed');
      await page().click('.publication button:has-text("Retry")');
      assert.match(await tab.flash(), /Record 1 is pending again for integration \d+/);
      assert.equal((await page().locator('.publication .badge').textContent())?.trim(), 'pending');
      await page().goto('/');
      await page().click(`#integration-${integrationId} button:has-text("Run now")`);
      assert.match(await tab.flash(), /published 1/);
      await page().goto('/records/articles/rows/1');
      assert.equal((await page().locator('.publication .badge').textContent())?.trim(), 'sent');
      assert.equal(await page().locator('.publication button:has-text("Retry")').count(), 0, 'a sent record offers no retry');
      await page().goto('/records/articles/rows/1/edit');
      assert.equal(await page().locator('.tweet-counter').count(), 0, 'no counter for a text already on X');
    });

    it('retries all of an integration\'s failed records from the dashboard', async () => {
      await runWith([{ title: 'A', tweet_text: 'a'.repeat(300) }, { title: 'B', tweet_text: 'b'.repeat(300) }, { title: 'C', tweet_text: 'fits' }]);
      await setPolicy('thread');
      await page().goto('/');
      await page().click(`#integration-${integrationId} button:has-text("Retry failed records")`);
      assert.match(await tab.flash(), /2 failed records are pending again/);
      await page().click(`#integration-${integrationId} button:has-text("Run now")`);
      assert.match(await tab.flash(), /published 2, skipped 0, failed 0/);
      assert.equal(await page().locator(`#integration-${integrationId} button:has-text("Retry failed records")`).count(), 0);
    });
  });

  describe('the dashboard and the records list', () => {
    it('shows a run that failed records in a warning or error box, never a green one', async () => {
      await world.services.db('articles').insert([{ title: 'Fine', tweet_text: 'fits' }, { title: 'Long', tweet_text: 'l'.repeat(300) }]);
      await page().goto('/');
      await page().click(`#integration-${integrationId} button:has-text("Run now")`);
      const box = page().locator('.flash').first();
      assert.match(await box.textContent() ?? '', /published 1, skipped 0, failed 1/);
      assert.equal(await box.getAttribute('class'), 'flash flash-warning');
      await tab.screenshot('dashboard-run-warning');
      await world.services.db('articles').insert({ title: 'Long too', tweet_text: 'm'.repeat(300) });
      await page().click(`#integration-${integrationId} button:has-text("Run now")`);
      assert.match(await box.textContent() ?? '', /published 0, skipped 0, failed 1/);
      assert.equal(await box.getAttribute('class'), 'flash flash-error', 'a run where everything failed is an error');
      await world.services.db('articles').insert({ title: 'Short', tweet_text: 'ok' });
      await page().click(`#integration-${integrationId} button:has-text("Run now")`);
      assert.equal(await box.getAttribute('class'), 'flash flash-success', 'green for a run with nothing failed');
    });

    it('links the failed count to the records list filtered to that integration\'s failed records, and filters by state', async () => {
      await runWith([
        { title: 'Sent one', tweet_text: 'short' },
        { title: 'Failed one', tweet_text: 'f'.repeat(300) },
        { title: 'Sent two', tweet_text: 'also short' },
        { title: 'Failed two', tweet_text: 'g'.repeat(300) },
      ]);
      await page().goto('/');
      await page().click(`#integration-${integrationId} .counts a:has-text("failed")`);
      assert.equal(new URL(page().url()).search, `?integration=${integrationId}&state=failed`);
      const titles = () => page().locator('table.records tbody tr td:nth-child(2)').allTextContents();
      assert.deepEqual(await titles(), ['Failed two', 'Failed one']);
      assert.deepEqual(await page().locator('table.records tbody .badge').allTextContents(), ['failed', 'failed']);
      assert.equal(await page().locator('#filter-state').inputValue(), 'failed');
      await tab.screenshot('records-failed');
      await page().selectOption('#filter-state', 'sent');
      await page().click('form.state-filter button:has-text("Show")');
      assert.equal(new URL(page().url()).searchParams.get('state'), 'sent');
      assert.deepEqual(await titles(), ['Sent two', 'Sent one']);
      await page().selectOption('#filter-state', '');
      await page().click('form.state-filter button:has-text("Show")');
      assert.equal((await titles()).length, 4);
      const refused = await page().goto('/records/articles?state=lost');
      assert.equal(refused?.status(), 400);
      assert.match(await page().locator('main').textContent() ?? '', /state 'lost' is not a tweet state; use one of pending, sending, sent, failed, skipped/);
    });
  });

  it('makes one API token from a double click on "Create token", and shows it', async () => {
    await page().goto('/me');
    await page().fill('#tokenName', 'double');
    assert.equal(await doubleClick('/me/tokens', 'button:has-text("Create token")'), 2, 'both clicks reached the server');
    const shown = (await page().locator('#new-token').textContent())?.trim() ?? '';
    const tokens = await world.services.apiTokens.listForUser((await world.services.users.findByUsername('ada'))!.id);
    assert.equal(tokens.length, 1);
    assert.match(shown, /^kbts_/);
    assert.ok(shown.startsWith(tokens[0].tokenPrefix), 'the token shown is the one stored');
    const answer = await world.agent().get('/api/v1/tables').set('authorization', `Bearer ${shown}`);
    assert.equal(answer.status, 200, 'the token shown works');
  });
});
