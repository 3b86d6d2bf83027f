import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { createExampleTable } from '../../src/kb/example-table';
import { addAccount } from '../../src/setup/account-setup';
import { launchChromium, signedInTab, type BrowserTab } from '../support/browser';
import { describeEachDatabase } from '../support/test-env';
import { WebWorld } from '../support/web-world';

describeEachDatabase('Chromium: the integration wizard refuses twins and helps choose the continue field', (database) => {
  let browser: Browser;
  let world: WebWorld;
  let tab: BrowserTab;

  before(async () => { browser = await launchChromium(); });
  after(async () => browser?.close());

  beforeEach(async () => {
    world = await WebWorld.create({ database });
    await createExampleTable(world.services.db);
    const user = world.sandbox.createUser({ username: 'kb_wizard' });
    await addAccount(world.services.accountSetup, {
      description: 'Wizard account', environment: 'sandbox', apiBaseUrl: null,
      credentials: { apiKey: user.credentials.api_key, apiKeySecret: user.credentials.api_key_secret, accessToken: user.credentials.access_token, accessTokenSecret: user.credentials.access_token_secret },
    });
    tab = await signedInTab(browser, world, 'ada', 'admin', `wizard-${database}`);
  });
  afterEach(async () => {
    assert.deepEqual(tab.pageErrors, [], 'no script errors or CSP violations');
    await tab.close();
    await world.close();
  });

  /** From the first step to the fields step for a table (the only account is chosen already). */
  async function toFields(table: string): Promise<void> {
    const { page } = tab;
    await page.goto('/integrations/new');
    await page.click('button:has-text("Next")');
    await page.selectOption('#table', table);
    await page.click('button:has-text("Next")');
    await page.waitForSelector('text=3. Fields and schedule');
  }

  async function chooseFields(tweet: string, response: string, continueField: string): Promise<void> {
    await tab.page.selectOption('#tweetField', tweet);
    await tab.page.selectOption('#responseField', response);
    await tab.page.selectOption('#continueField', continueField);
  }

  it('Back after "Create integration", then Create again, shows the integration made and makes no second', async () => {
    const { page } = tab;
    await toFields('articles');
    await chooseFields('tweet_text', 'replies', 'keep_going');
    await page.click('button:has-text("Next")');
    await page.waitForSelector('text=4. Review');
    await page.click('button:has-text("Create integration")');
    await page.waitForURL((url) => url.pathname === '/' && url.hash === '#integration-1');
    assert.match(await tab.flash(), /^Integration 1 created/);
    await page.goBack();
    await page.waitForSelector('text=4. Review');
    await tab.screenshot('back-to-review');
    await page.click('button:has-text("Create integration")');
    await page.waitForURL((url) => url.pathname === '/' && url.hash === '#integration-1');
    assert.equal(await tab.flash(), 'This wizard had already created integration 1; no second integration was made.');
    assert.equal((await world.services.integrations.list()).length, 1);
  });

  it('names the integration that tweets the table at the fields step, and refuses the same tweet field beside it with a link to it', async () => {
    const { page } = tab;
    await toFields('articles');
    await chooseFields('tweet_text', 'replies', 'keep_going');
    await page.click('button:has-text("Next")');
    await page.click('button:has-text("Create integration")');
    await page.waitForURL((url) => url.pathname === '/');

    await toFields('articles');
    const notice = page.locator('#existing-integrations');
    assert.match((await notice.textContent()) ?? '', /This account already tweets from table articles:\s+integration 1 tweets tweet_text\./);
    await chooseFields('tweet_text', 'replies', 'keep_going');
    await page.click('button:has-text("Next")');
    await page.waitForSelector('text=3. Fields and schedule');
    const tweetField = page.locator('.field', { has: page.locator('#tweetField') });
    assert.equal((await tweetField.locator('.field-error').textContent())?.trim(),
      "integration 1 already tweets 'tweet_text' of table 'articles' from @kb_wizard; a second one would tweet each new record again. Change integration 1 instead, or choose another tweet field");
    await tab.screenshot('twin-refused');
    await tweetField.locator('a:has-text("integration 1 on the dashboard")').click();
    await page.waitForURL((url) => url.pathname === '/' && url.hash === '#integration-1');
    assert.ok(await page.locator('#integration-1').isVisible(), 'the link leads to that integration');
    assert.equal((await world.services.integrations.list()).length, 1);
  });

  it('lists Yes/No-like continue fields first with some of their values, and warns about a title chosen as one without blocking', async () => {
    const { page } = tab;
    const db = world.services.db;
    await db.schema.createTable('posts', (table) => {
      table.increments('id');
      table.string('title', 200).notNullable();
      table.text('body');
      table.boolean('published');
      table.string('go_on', 5);
      table.text('answers');
    });
    await db('posts').insert([
      { title: 'Hello world', body: 'First', published: true, go_on: 'Yes' },
      { title: 'Second post', body: 'Second', published: false, go_on: 'No' },
    ]);
    await toFields('posts');
    const groups = await page.$$eval('#continueField optgroup', (elements) => elements.map((group) => ({
      label: group.getAttribute('label'),
      options: [...group.querySelectorAll('option')].map((option) => option.textContent ?? ''),
    })));
    assert.deepEqual(groups.map((group) => [group.label, group.options.map((option) => option.split(' — ')[0])]), [
      ['Yes/No-like columns', ['published', 'go_on']],
      ['Other columns', ['answers', 'title', 'body', 'id']],
    ]);
    assert.match(groups[0].options[1], /values: ('Yes', 'No'|'No', 'Yes')$/);
    assert.match(groups[1].options[0], /no values yet$/);
    await tab.screenshot('continue-choices');
    await chooseFields('body', 'answers', 'title');
    await page.click('button:has-text("Next")');
    await page.waitForSelector('text=4. Review');
    const warning = (await page.locator('dt:has-text("Continue field") + dd .field-warning').first().textContent()) ?? '';
    assert.match(warning, /^the continue field 'title' holds values that are neither Yes nor No: ('Hello world', 'Second post'|'Second post', 'Hello world'); records whose value is neither Yes nor No are skipped/);
    await tab.screenshot('continue-warning');
    await page.click('button:has-text("Create integration")');
    await page.waitForURL((url) => url.pathname === '/');
    assert.match(await tab.flash(), /^Integration 1 created/, 'a warning does not block');
  });
});

describe('Chromium: the accounts page tests a login in words and keeps what was typed', function () {
  this.timeout(120_000);
  let browser: Browser;
  let world: WebWorld;
  let tab: BrowserTab;
  const KEYS = ['apiKey', 'apiKeySecret', 'accessToken', 'accessTokenSecret'] as const;

  before(async () => {
    browser = await launchChromium();
    world = await WebWorld.create();
    tab = await signedInTab(browser, world, 'ada', 'admin', 'accounts');
  });
  after(async () => {
    await tab?.close();
    await browser?.close();
    await world?.close();
  });
  afterEach(() => assert.deepEqual(tab.pageErrors, [], 'no script errors or CSP violations'));

  async function testLogin(): Promise<string> {
    await tab.page.click('#test-login');
    // The click shows "Testing the login…" (form-pending) at once; the answer replaces it.
    await tab.page.waitForSelector('#login-result:not(.form-pending)');
    return (await tab.page.textContent('#login-result')) ?? '';
  }

  it('says what saving a sandbox account with blank keys does, instead of a red ✕', async () => {
    const { page } = tab;
    await page.goto('/accounts/new');
    await page.check('input[name=environment][value=sandbox]');
    await page.fill('#description', 'Sandbox');
    const said = await testLogin();
    assert.equal(said, 'No keys needed: when you save, the sandbox issues a new user for this account, and its screen name and user id appear here.');
    assert.equal(await page.getAttribute('#login-result', 'class'), 'form-note');
    assert.equal(await page.locator('.field-error').count(), 0, 'nothing is marked wrong');
    await tab.screenshot('sandbox-blank-keys');
  });

  it('keeps the four keys typed for a Live account after a failed login test and after a refused save', async () => {
    const { page } = tab;
    const user = world.sandbox.createUser({ username: 'kb_live' });
    const typed = { apiKey: user.credentials.api_key, apiKeySecret: user.credentials.api_key_secret, accessToken: user.credentials.access_token, accessTokenSecret: 'typed-but-wrong' };
    await page.goto('/accounts/new');
    await page.check('input[name=environment][value=live]');
    await page.fill('#description', 'Live');
    await page.fill('#apiBaseUrl', `${world.url}/sandbox/x`);
    for (const key of KEYS) await page.fill(`#${key}`, typed[key]);
    assert.match(await testLogin(), /^login test failed: X refused the account's credentials/);
    for (const key of KEYS) assert.equal(await page.inputValue(`#${key}`), typed[key], `${key} after the test`);
    await page.click('button:has-text("Add account")');
    await page.waitForSelector('.form-error');
    assert.match((await page.textContent('.form-error')) ?? '', /^login test failed: X refused the account's credentials/);
    for (const key of KEYS) assert.equal(await page.inputValue(`#${key}`), typed[key], `${key} after the refused save`);
    await tab.screenshot('live-keys-kept');
    assert.equal((await world.services.accounts.list()).length, 0);
  });

  it('refuses "not a url" as the API address beside the field, naming it, without trying it', async () => {
    const { page } = tab;
    await page.goto('/accounts/new');
    await page.check('input[name=environment][value=live]');
    await page.fill('#description', 'Bad address');
    await page.fill('#apiBaseUrl', 'not a url');
    for (const key of KEYS) await page.fill(`#${key}`, `typed-${key}`);
    await testLogin();
    const beside = page.locator('.field', { has: page.locator('#apiBaseUrl') }).locator('.field-error');
    assert.equal((await beside.textContent())?.trim(), "API base URL 'not a url' is not a URL; give one like https://api.x.com or http://127.0.0.1:4000");
    assert.equal(await page.getAttribute('#apiBaseUrl', 'aria-invalid'), 'true');
    await tab.screenshot('bad-address');
    await page.fill('#apiBaseUrl', `${world.url}/sandbox/x`);
    await testLogin();
    assert.equal(await beside.count(), 0, 'a new test clears the old message');
  });
});
