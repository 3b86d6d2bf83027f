import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { ChannelStore } from '../../src/store/channels';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { launchChromium, signedInTab, type BrowserTab, endBrowserTest } from '../support/browser';
import { WebWorld } from '../support/web-world';

describe('the channel wizard, in Chromium', function () {
  this.timeout(120_000);
  let browser: Browser;
  let world: WebWorld;
  let tab: BrowserTab;
  let accountId: number;

  before(async () => { browser = await launchChromium(); });
  after(async () => { await browser?.close(); });

  beforeEach(async () => {
    world = await WebWorld.create({});
    ({ accountId } = await world.withSandboxIntegration());
    await world.services.db.raw('CREATE TABLE tickets (id INTEGER PRIMARY KEY, body TEXT, author TEXT, link TEXT, tag TEXT, conversation TEXT, still_open VARCHAR(10), amount INTEGER)');
    tab = await signedInTab(browser, world, 'ada', 'admin', 'channels-wizard');
  });
  afterEach(async function () { await endBrowserTest(this.currentTest, tab, world); });

  it('maps direct messages onto a table, refusing fields the live schema does not allow, then a DM becomes a record', async () => {
    const page = tab.page;
    await page.goto('/channels');
    await page.click('text=New channel');
    await page.click('button:has-text("Next")');
    assert.match(await page.locator('.field-error').first().innerText(), /choose an account/);
    await page.check(`input[name=accountId][value="${accountId}"]`);
    await page.check('input[name=kind][value=dms]');
    await page.click('button:has-text("Next")');
    await page.selectOption('#table', 'articles');
    await page.click('button:has-text("Next")');
    assert.match(await page.locator('.field-error').first().innerText(), /tweeted by integration/);
    await page.selectOption('#table', 'tickets');
    await page.click('button:has-text("Next")');

    await page.selectOption('#textField', 'body');
    await page.selectOption('#authorField', 'author');
    await page.selectOption('#linkField', 'author');
    await page.selectOption('#tagField', 'amount');
    await page.selectOption('#responseField', 'conversation');
    await page.selectOption('#continueField', 'still_open');
    await page.click('button:has-text("Add channel")');
    const errors = await page.locator('.field-error').allInnerTexts();
    assert.ok(errors.some((message) => /the X link field and the author field are the same column 'author'/.test(message)), errors.join('\n'));
    assert.ok(errors.some((message) => /the tag field 'amount' is of type/.test(message)), errors.join('\n'));
    assert.equal((await new ChannelStore(world.services.db).list()).length, 0);

    await page.selectOption('#linkField', 'link');
    await page.selectOption('#tagField', 'tag');
    await page.click('button:has-text("Add channel")');
    assert.match(await tab.flash(), /Channel \d+ added: direct messages to the account become records of 'tickets'/);
    assert.match(await page.locator('article.card').first().innerText(), /Direct messages to the account of @kb_web/);

    world.sandbox.dms.sendAs({ as: 'alice', to: 'kb_web', text: 'Hello from the sandbox' });
    await runPollCycle(world.services.sync);
    const [ticket] = await world.services.db('tickets').select('*');
    assert.equal(ticket.body, 'Hello from the sandbox');
    assert.equal(ticket.tag, 'Twitter: Direct');

    await page.click('button:has-text("Pause")');
    assert.match(await tab.flash(), /paused/);
    assert.equal((await new ChannelStore(world.services.db).list())[0].status, 'paused');
  });

  it('the sandbox sends a mention and a direct message as an invented user', async () => {
    const page = tab.page;
    await page.goto(`/sandbox/accounts/${accountId}`);
    await page.fill('input[aria-label="message as username"]', 'bob');
    await page.fill('input[aria-label="message text"]', 'A question by DM');
    await page.click('button:has-text("Send message")');
    assert.match(await tab.flash(), /@bob sent @kb_web a direct message/);
    await page.fill('input[aria-label="mention text"]', 'hello there');
    await page.click('button:has-text("Mention")');
    assert.match(await tab.flash(), /@alice mentioned @kb_web/);
    assert.deepEqual(world.sandbox.dms.list('kb_web').map((dm) => dm.text), ['A question by DM']);
    assert.ok(world.sandbox.listTweets({ author: 'alice' }).some((tweet) => tweet.text === '@kb_web hello there'));
  });
});
