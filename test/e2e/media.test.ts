import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import type { Browser } from 'playwright-core';
import { updateIntegration } from '../../src/setup/integration-setup';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { launchChromium, signedInTab, type BrowserTab, endBrowserTest } from '../support/browser';
import { png } from '../support/media-files';
import { describeEachDatabase } from '../support/test-env';
import { WebWorld } from '../support/web-world';

// The image's width once loaded (0 when it failed to load), read in the page.
const loadedWidth = (img: unknown) => {
  const image = img as { complete: boolean; naturalWidth: number };
  return image.complete ? image.naturalWidth : 0;
};

describeEachDatabase('media on the record form and page, in Chromium', (database) => {
  let browser: Browser;
  let world: WebWorld;
  let integrationId: number;
  let tab: BrowserTab;
  let files: string;

  before(async () => { browser = await launchChromium(); });
  after(async () => { await browser?.close(); });

  beforeEach(async function () {
    world = await WebWorld.create({ database });
    ({ integrationId } = await world.withSandboxIntegration());
    await world.services.db.raw(`ALTER TABLE articles ADD COLUMN media TEXT`);
    await world.services.db.raw(`ALTER TABLE articles ADD COLUMN picture ${database === 'postgres' ? 'BYTEA' : 'BLOB'}`);
    files = fs.mkdtempSync(path.join(world.env.dir, 'to-send-'));
    tab = await signedInTab(browser, world, 'ada', 'admin', `media-${database}-${this.currentTest?.title.slice(0, 40).replace(/\W+/g, '-')}`);
  });

  afterEach(async function () { await endBrowserTest(this.currentTest, tab, world); });

  const page = () => tab.page;
  const fileOf = (name: string, content: Buffer) => {
    const file = path.join(files, name);
    fs.writeFileSync(file, content);
    return file;
  };

  it('sends a file from the new-record form into the media folder, and the tweet carries it', async () => {
    await updateIntegration(world.services.integrationSetup, integrationId, { mediaField: 'media' });
    await page().goto(`${world.url}/records/articles/new`);
    await page().fill('#field-title', 'With a picture');
    await page().fill('#field-tweet_text', 'A record with a picture');
    await page().locator('input[data-media-upload]').setInputFiles(fileOf('garden.png', png()));
    await page().locator('[data-media-upload-result]', { hasText: 'Added uploads/' }).waitFor();
    const written = await page().inputValue('#field-media');
    assert.match(written, /^uploads\/[0-9a-f]{12}-garden\.png$/);
    assert.ok(fs.existsSync(path.join(world.services.config.media.mediaDir, written)), 'kept in the media folder');
    await page().getByRole('button', { name: 'Create record' }).click();
    await page().waitForURL(/\/records\/articles\/rows\//);
    await runPollCycle(world.services.sync);
    const [tweet] = world.sandbox.listTweets({ author: 'kb_web' });
    assert.equal(tweet.text, 'A record with a picture');
    assert.equal(tweet.media?.length, 1);

    await page().reload();
    const thumbnail = page().locator('section.media img.thumb');
    await thumbnail.waitFor();
    assert.equal(await thumbnail.evaluate(loadedWidth), 1, 'the 1×1 PNG is served to the page');
    assert.match(await page().locator('section.media').innerText(), /The tweet carries 1 file uploaded to X \(image/);
  });

  it('puts a file into a BLOB media field from the record page, and refuses one X would not take, in words', async () => {
    await updateIntegration(world.services.integrationSetup, integrationId, { mediaField: 'picture' });
    await world.services.db('articles').insert({ title: 'Later', tweet_text: 'Picture to come', keep_going: 'No' });
    const [row] = await world.services.db('articles').select('id');
    await page().goto(`${world.url}/records/articles/rows/${row.id}`);
    await page().locator('input[data-media-upload]').setInputFiles(fileOf('notes.png', Buffer.from('a text file with a picture\'s name')));
    await page().locator('[data-media-upload-result]', { hasText: 'Not kept' }).waitFor();
    assert.match(await page().locator('[data-media-upload-result]').innerText(), /Not kept: 'notes.png' is not a file X takes: its content is not JPEG, PNG, WEBP, GIF, MP4 or MOV/);

    const reloaded = page().waitForEvent('load');
    await page().locator('input[data-media-upload]').setInputFiles(fileOf('pixel.png', png()));
    await reloaded;
    const [stored] = await world.services.db('articles').select('picture');
    assert.ok(Buffer.from(stored.picture).equals(png()), 'the bytes are in the record');
    await page().locator('section.media img.thumb').waitFor();
    assert.equal(await page().locator('section.media img.thumb').evaluate(loadedWidth), 1);
  });
});
