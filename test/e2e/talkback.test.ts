import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { insertRecord } from '../../src/kb/records';
import { describeTable } from '../../src/kb/schema';
import { TalkbackSettingsStore } from '../../src/store/agent-replies';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { weightedLength } from '../../src/twitter/weighted-length';
import { launchChromium, signedInTab, type BrowserTab, endBrowserTest } from '../support/browser';
import { describeEachDatabase } from '../support/test-env';
import { WebWorld } from '../support/web-world';

describeEachDatabase('talking back from the record, in Chromium', (database) => {
  let browser: Browser;
  let world: WebWorld;
  let integrationId: number;
  let tab: BrowserTab;
  let suffix: string;

  before(async () => { browser = await launchChromium(); });
  after(async () => { await browser?.close(); });

  beforeEach(async function () {
    world = await WebWorld.create({ database });
    ({ integrationId } = await world.withSandboxIntegration({ username: 'kbdesk' }));
    const table = (await describeTable(world.services.db, 'articles'))!;
    await insertRecord(world.services.db, table, new Map([['title', 'Q'], ['tweet_text', 'Does the export keep formatting?']]));
    await runPollCycle(world.services.sync);
    const userId = await world.createUser('jdoe', 'editor');
    const settings = new TalkbackSettingsStore(world.services.db);
    await settings.setDisplayName(userId, 'John Doe');
    await settings.setSwitches(integrationId, { agentInitials: true, dmDeepLink: true });
    const account = await world.services.accounts.get(1);
    suffix = ` - J.D https://x.com/messages/compose?recipient_id=${account!.xUserId}`;
    tab = await signedInTab(browser, world, 'jdoe', 'editor', `talkback-${database}-${this.currentTest?.title.slice(0, 30).replace(/\W+/g, '-')}`);
  });

  afterEach(async function () { await endBrowserTest(this.currentTest, tab, world); });

  const page = () => tab.page;
  const box = () => page().locator('[data-reply-form]').first();
  const counterText = async () => (await box().locator('.counter-text').textContent())?.trim();

  it('counts the initials and the link as the server does, disables sending past 280, and shows the reply go from sending to sent', async () => {
    await page().goto('/records/articles/rows/1');
    assert.equal(await counterText(), `${weightedLength(suffix)} of 280`, 'an empty reply still carries the initials and the link');
    assert.equal(await box().locator('button[type=submit]').isDisabled(), true, 'nothing to send yet');
    for (const text of ['Yes, it does.', '日本語で書きました 👍🏽', 'See https://example.com/help for more']) {
      await box().locator('textarea').fill(text);
      assert.equal(await counterText(), `${weightedLength(text + suffix)} of 280`, `weighed as the server weighs "${text}"`);
    }
    const room = 280 - weightedLength(suffix);
    await box().locator('textarea').fill('a'.repeat(room + 1));
    assert.equal(await counterText(), '281 of 280: too long, shorten it by 1');
    assert.equal(await box().locator('button[type=submit]').isDisabled(), true, 'disabled past 280');
    await box().locator('textarea').fill('a'.repeat(room));
    assert.equal(await box().locator('button[type=submit]').isDisabled(), false, '280 exactly may go');

    await box().locator('textarea').fill('Yes, it does.');
    await Promise.all([page().waitForEvent('load'), box().locator('button[type=submit]').click()]);
    const reply = page().locator('[data-agent-reply]').first();
    assert.equal((await reply.locator('[data-reply-badge]').textContent())?.trim(), 'sending');
    await runPollCycle(world.services.sync);
    await reply.locator('[data-reply-words] a').waitFor();
    assert.match((await reply.locator('[data-reply-words]').textContent()) ?? '', /^sent as tweet \d+$/);
    assert.equal((await reply.locator('[data-reply-badge]').textContent())?.trim(), 'sent');
    const [row] = await world.services.db('kbts_agent_replies');
    assert.equal(row.text, `Yes, it does.${suffix}`);
  });

  it('sends one reply from a double click, and no second one from another tab with the same text', async () => {
    await page().goto('/records/articles/rows/1');
    await box().locator('textarea').fill('Clicked twice');
    await Promise.all([page().waitForEvent('load'), box().locator('button[type=submit]').dblclick()]);
    // The same text from a second tab (another form key) finds the reply on its way.
    const second = await signedInTab(browser, world, 'jdoe', 'editor', 'talkback-second-tab');
    try {
      await second.page.goto('/records/articles/rows/1');
      await second.page.locator('[data-reply-form]').first().locator('textarea').fill('Clicked twice');
      await Promise.all([second.page.waitForEvent('load'), second.page.locator('[data-reply-form]').first().locator('button[type=submit]').click()]);
    } finally {
      await second.close();
    }
    await runPollCycle(world.services.sync);
    assert.equal(Number((await world.services.db('kbts_agent_replies').count({ n: '*' }))[0].n), 1);
    const onX = world.sandbox.listTweets({ author: 'kbdesk' }).filter((tweet: { text: string }) => tweet.text.startsWith('Clicked twice'));
    assert.equal(onX.length, 1);
  });

  it('shows a refusal beside the box and keeps the text', async () => {
    await page().goto('/records/articles/rows/1');
    await box().locator('textarea').fill('An answer that waits');
    await world.services.db('kbts_integrations').update({ status: 'paused', paused_reason: 'paused by an admin' });
    await box().locator('button[type=submit]').click();
    const error = box().locator('.reply-error');
    await error.waitFor();
    assert.match((await error.textContent()) ?? '', /^Not sent: integration \d+ is paused \(paused by an admin\): resume it before replying; nothing was sent$/);
    assert.equal(await box().locator('textarea').inputValue(), 'An answer that waits');
    assert.equal(Number((await world.services.db('kbts_agent_replies').count({ n: '*' }))[0].n), 0);
  });
});
