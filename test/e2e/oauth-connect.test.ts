import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { launchChromium, signedInTab, type BrowserTab } from '../support/browser';
import { WebWorld } from '../support/web-world';

describe('Chromium: an admin connects an X account through the emulator\'s authorize page', function () {
  this.timeout(120_000);
  let browser: Browser;
  let world: WebWorld;
  let tab: BrowserTab;
  let emulatorUrl: string;

  before(async () => { browser = await launchChromium(); });
  after(async () => browser?.close());

  beforeEach(async () => {
    world = await WebWorld.create();
    // The test world's X emulator runs on a port of its own: its authorize page is another origin.
    emulatorUrl = world.env.emulator.url;
    tab = await signedInTab(browser, world, 'ada', 'admin', 'oauth-connect');
  });
  afterEach(async () => {
    assert.deepEqual(tab.pageErrors, [], 'no script errors or CSP violations');
    await tab.close();
    await world.close();
  });

  /** Registers an X app on the emulator and saves its keys on the X app page, as an admin would. */
  async function saveAppKeys(): Promise<void> {
    const app = await (await fetch(`${emulatorUrl}/_emulator/apps`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).json() as { consumer_key: string; consumer_secret: string };
    const { page } = tab;
    await page.goto('/accounts');
    assert.match(await page.locator('#connect-needs-app').textContent() ?? '', /first enter your X app's consumer key and secret/);
    assert.equal(await page.isDisabled('#connect-button'), true, 'no connect without the app\'s keys');
    await page.click('a:has-text("X app settings")');
    await page.fill('#consumerKey', app.consumer_key);
    await page.fill('#consumerSecret', app.consumer_secret);
    await page.fill('#apiBaseUrl', emulatorUrl);
    await page.click('button:has-text("Save X app")');
    await page.waitForURL((url) => url.pathname === '/accounts');
    assert.match(await tab.flash(), /X app saved/);
    assert.doesNotMatch(await page.content(), new RegExp(app.consumer_secret));
  }

  async function toAuthorizePage(description = ''): Promise<void> {
    const { page } = tab;
    await page.goto('/accounts');
    if (description) await page.fill('#connect-description', description);
    await Promise.all([page.waitForURL((url) => url.origin === emulatorUrl && url.pathname === '/oauth/authorize'), page.click('#connect-button')]);
  }

  it('saves the app keys, connects, approves as a new emulator user and lands on the account with its login test passed', async () => {
    const { page } = tab;
    await saveAppKeys();
    await toAuthorizePage('Newsroom via X');
    await tab.screenshot('authorize-page');
    await page.selectOption('#user_id', '');
    await page.fill('#new_username', 'kb_newsroom');
    await page.click('#allow');
    await page.waitForURL((url) => /^\/accounts\/[0-9]+$/.test(url.pathname));
    assert.match(await tab.flash(), /^Account 1 connected with X: logged in as @kb_newsroom \(user id [0-9]+\)\./);
    await tab.screenshot('connected');
    const [account] = await world.services.accounts.list();
    assert.deepEqual([account.description, account.environment, account.apiBaseUrl, account.screenName, account.lastTestError], ['Newsroom via X', 'custom', emulatorUrl, 'kb_newsroom', null]);
    assert.ok(account.lastTestedAt);
  });

  it('a replayed callback is refused in words and adds nothing', async () => {
    const { page } = tab;
    await saveAppKeys();
    await toAuthorizePage();
    const callbacks: string[] = [];
    page.on('request', (request) => { if (request.url().includes('/accounts/connect/callback')) callbacks.push(request.url()); });
    await page.selectOption('#user_id', '');
    await page.fill('#new_username', 'kb_replay');
    await page.click('#allow');
    await page.waitForURL((url) => /^\/accounts\/[0-9]+$/.test(url.pathname));
    assert.equal(callbacks.length, 1);
    const replay = await page.goto(callbacks[0]);
    assert.equal(replay?.status(), 400);
    assert.match(await page.locator('main').textContent() ?? '', /this X authorization is unknown or was already used \(each one works once\); nothing was changed/);
    assert.equal((await world.services.accounts.list()).length, 1);
  });

  it('denying on the authorize page comes back to the accounts page saying nothing was changed', async () => {
    const { page } = tab;
    await saveAppKeys();
    await toAuthorizePage();
    await page.click('#cancel');
    await page.waitForURL((url) => url.pathname === '/accounts');
    assert.equal(await tab.flash(), 'X authorization was denied; nothing was changed.');
    assert.equal((await world.services.accounts.list()).length, 0);
  });

  it('a sandbox account connects through the sandbox\'s own authorize page, with no app keys', async () => {
    const { page } = tab;
    world.sandbox.createUser({ username: 'kb_sandboxed' });
    await page.goto('/accounts');
    await Promise.all([page.waitForURL((url) => url.pathname === '/sandbox/x/oauth/authorize'), page.click('button:has-text("Connect a sandbox account")')]);
    await page.selectOption('#user_id', { label: '@kb_sandboxed' });
    await page.click('#allow');
    await page.waitForURL((url) => /^\/accounts\/[0-9]+$/.test(url.pathname));
    assert.match(await tab.flash(), /connected with X: logged in as @kb_sandboxed/);
    const [account] = await world.services.accounts.list();
    assert.deepEqual([account.environment, account.screenName, account.lastTestError], ['sandbox', 'kb_sandboxed', null]);
  });

  it('an editor sees no connect button and cannot start a connect', async () => {
    const editor = await signedInTab(browser, world, 'eve', 'editor', 'oauth-editor');
    try {
      const answer = await editor.page.goto('/accounts');
      assert.equal(answer?.status(), 403);
      assert.equal(await editor.page.locator('#connect-button').count(), 0);
      await editor.page.goto('/me');
      const csrf = await editor.page.locator('input[name=_csrf]').first().getAttribute('value') ?? '';
      const started = await editor.page.request.post('/accounts/connect', { form: { _csrf: csrf, target: 'sandbox' } });
      assert.equal(started.status(), 403);
    } finally {
      await editor.close();
    }
  });
});
