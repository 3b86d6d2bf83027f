import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { TestEnv } from '../support/test-env';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.resolve(__dirname, '..', '..', 'test-artifacts', 'e2e');
const PASSWORD = 'correct horse battery';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

describe('the web app in Chromium: a new user sees the whole sandbox loop work', function () {
  this.timeout(120_000);
  let world: TestEnv;
  let daemon: { url: string; stop(): Promise<void> };
  let browser: Browser;
  let page: Page;
  let shot = 0;
  const dialogs: string[] = [];
  const pageErrors: string[] = [];

  async function screenshot(name: string): Promise<void> {
    shot += 1;
    await page.screenshot({ path: path.join(ARTIFACTS, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
  }

  async function flash(): Promise<string> {
    return (await page.locator('.flash').first().textContent())?.trim() ?? '';
  }

  before(async () => {
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium), as .ci/run does`);
    }
    fs.rmSync(ARTIFACTS, { recursive: true, force: true });
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    world = await TestEnv.create();
    // The sandbox's address comes from PORT, so the server needs a known free port.
    const port = await freePort();
    daemon = await world.startServe({ PORT: String(port) });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ baseURL: daemon.url, viewport: { width: 1280, height: 860 } });
    page.setDefaultTimeout(10_000);
    page.on('dialog', (dialog) => { dialogs.push(dialog.message()); void dialog.dismiss(); });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    // Pages answered with 400 or 403 on purpose log a failed load; what matters is scripts and the CSP.
    page.on('console', (message) => {
      if (message.type() === 'error' && !/status of (400|403)\b/.test(message.text())) pageErrors.push(message.text());
    });
  });

  after(async () => {
    await browser?.close();
    await daemon?.stop();
    await world?.close();
  });

  it('first run, sandbox account, login test, wizard, record, Run now, reply, reply in the record by webhook', async () => {
    await page.goto('/');
    assert.match(page.url(), /\/setup$/, 'a new installation leads to the first-run form');
    await page.fill('#username', 'admin');
    await page.fill('#password', PASSWORD);
    await page.fill('#passwordRepeat', PASSWORD);
    assert.equal(await page.isChecked('input[name=exampleTable]'), true, 'the example table is offered');
    await screenshot('first-run');
    await page.click('button:has-text("Create admin and sign in")');
    assert.match(await flash(), /example table 'articles' is ready/);
    await screenshot('dashboard-empty');

    await page.click('nav >> text=X accounts');
    await page.click('text=Add an X account');
    await page.fill('#description', 'Newsroom');
    await page.check('input[name=environment][value=sandbox]');
    await screenshot('account-new');
    await page.click('button:has-text("Add account")');
    assert.match(await flash(), /logged in as @kb_newsroom/);

    await page.click('#test-login');
    await page.waitForSelector('#login-result.form-success');
    assert.equal((await page.textContent('#screenName'))?.trim(), '@kb_newsroom');
    assert.match((await page.textContent('#xUserId'))?.trim() ?? '', /^\d+$/);
    await screenshot('account-login-test');

    await page.click('nav >> text=New integration');
    assert.equal(await page.isChecked('input[name=accountId]'), true, 'the only account is chosen');
    await screenshot('wizard-1-account');
    await page.click('button:has-text("Next")');
    await page.selectOption('#table', 'articles');
    await screenshot('wizard-2-table');
    await page.click('button:has-text("Next")');
    await page.selectOption('#tweetField', 'tweet_text');
    await page.selectOption('#responseField', 'replies');
    await page.selectOption('#continueField', 'keep_going');
    await page.check('input[name=responseMode][value=append]');
    // A schedule that never comes during the test: only "Run now" polls.
    await page.check('input[name=frequency][value=cron]');
    await page.fill('input[name=cron]', '0 0 1 1 *');
    await screenshot('wizard-3-fields');
    await page.click('button:has-text("Next")');
    assert.match(await page.textContent('.preview') ?? '', /@alice: Thanks, this answered my question\./);
    await screenshot('wizard-4-review');
    await page.click('button:has-text("Create integration")');
    assert.match(await flash(), /Integration 1 created/);

    await page.click('nav >> text=Records');
    await page.click('a:has-text("articles")');
    await page.click('text=New record');
    await page.fill('#field-title', 'Browser test article');
    await page.fill('#field-tweet_text', 'Hello from the browser test');
    await screenshot('record-new');
    await page.click('button:has-text("Create record")');
    assert.match(await flash(), /It will be tweeted right away by integration 1/);
    // The running server tweets it on commit, whatever the polling frequency: no "Run now".
    const deadline = Date.now() + 20_000;
    while ((await page.textContent('.publication .badge'))?.trim() !== 'sent') {
      assert.ok(Date.now() < deadline, 'the record is tweeted on commit');
      await new Promise((resolve) => setTimeout(resolve, 200));
      await page.reload();
    }

    await page.click('nav >> text=Dashboard');
    await screenshot('dashboard-after-first-run');

    await page.click('nav >> text=Sandbox');
    const tweet = page.locator('article.tweet').first();
    assert.equal((await tweet.locator('.text').first().textContent())?.trim(), 'Hello from the browser test');
    await tweet.locator('input[name=text]').fill('Great read, thanks!');
    await tweet.locator('button:has-text("Reply")').click();
    assert.match(await flash(), /@alice replied \(tweet \d+\)\. It reaches the record by webhook within a second\./);
    await page.locator('article.tweet').first().locator('input[name=as]').fill('mallory');
    await page.locator('article.tweet').first().locator('input[name=text]').fill('<script>alert(1)</script>');
    await page.locator('article.tweet').first().locator('button:has-text("Reply")').click();
    assert.equal(await page.locator('article.tweet').first().locator('.replies li').count(), 2);
    await screenshot('sandbox-replies');

    // The sandbox delivers replies to the server by webhook (X Activity API): no second "Run now".
    await page.click('nav >> text=Records');
    await page.click('a:has-text("articles")');
    await page.click('table.records a >> nth=0');
    const responseText = async () => (await page.locator('.fields .response pre').count()) > 0 ? (await page.locator('.fields .response pre').textContent()) ?? '' : '';
    for (let i = 0; i < 50 && !(await responseText()).includes('@mallory'); i++) {
      await page.waitForTimeout(100);
      await page.reload();
    }
    const response = await responseText();
    assert.match(response, /^\[\d{4}-\d\d-\d\d \d\d:\d\d UTC\] @alice: Great read, thanks!\n\[\d{4}-\d\d-\d\d \d\d:\d\d UTC\] @mallory: <script>alert\(1\)<\/script>$/);
    assert.equal(await page.locator('.conversation li').count(), 3, 'the tweet and both replies');
    assert.equal((await page.textContent('.publication .badge'))?.trim(), 'sent');
    await screenshot('record-with-replies');

    await page.click('nav >> text=Communications');
    assert.equal(await page.locator('table.log tbody tr').count(), 3);
    await screenshot('communications');

    assert.deepEqual(dialogs, [], 'no script from a reply ever ran');
    assert.deepEqual(pageErrors, [], 'no script errors and no Content-Security-Policy violations');
  });

  it('shows wizard errors beside the field, API tokens once, users, and a viewer only the reading pages', async () => {
    await page.goto('/integrations/new');
    await page.click('button:has-text("Next")');
    await page.selectOption('#table', 'articles');
    await page.click('button:has-text("Next")');
    await page.selectOption('#tweetField', 'tweet_text');
    await page.selectOption('#responseField', 'tweet_text');
    await page.selectOption('#continueField', 'title');
    await page.click('button:has-text("Next")');
    assert.match(await page.locator('#responseField ~ .field-error').textContent() ?? '', /the tweet field and the response field are the same column 'tweet_text'/);
    await screenshot('wizard-field-error');

    await page.goto('/accounts');
    await screenshot('accounts');
    await page.goto('/records/articles/rows/1/edit');
    await screenshot('record-edit');

    await page.goto('/users');
    await page.fill('#username', 'vera');
    await page.fill('#password', PASSWORD);
    await page.selectOption('#role', 'viewer');
    await page.click('button:has-text("Add user")');
    assert.match(await flash(), /User 'vera' created as viewer/);
    await screenshot('users');

    await page.goto('/me');
    await page.fill('#tokenName', 'import script');
    await page.click('button:has-text("Create token")');
    assert.match(await page.textContent('#new-token') ?? '', /^kbts_/);
    await screenshot('api-token');

    await page.click('button:has-text("Sign out")');
    assert.match(page.url(), /\/login$/);
    await page.fill('#username', 'vera');
    await page.fill('#password', PASSWORD);
    await screenshot('login');
    await page.click('button:has-text("Sign in")');
    assert.match(page.url(), /\/records$/, 'a viewer starts at the records');
    assert.deepEqual(await page.locator('.topbar nav a').allTextContents(), ['Records', 'Communications']);
    await screenshot('viewer-records');
    const refused = await page.goto('/accounts');
    assert.equal(refused?.status(), 403);
    await screenshot('viewer-refused');
    assert.deepEqual(pageErrors, []);
  });
});
