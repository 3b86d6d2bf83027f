import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { Role } from '../../src/store/users';
import { PASSWORD, type WebWorld } from './web-world';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.resolve(__dirname, '..', '..', 'test-artifacts', 'e2e');

/** Debian's Chromium, headless; the test fails in words when it is missing. */
export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium), as .ci/run does`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * One browser tab on a web world, with the page's script errors and CSP violations collected, so a
 * test can assert that none happened. Pages answered with 400/403 on purpose log a failed load;
 * those are not script errors.
 */
export class BrowserTab {
  readonly pageErrors: string[] = [];
  readonly dialogs: string[] = [];
  private shot = 0;

  private constructor(readonly context: BrowserContext, readonly page: Page, private readonly artifactPrefix: string) {
    page.setDefaultTimeout(10_000);
    page.on('dialog', (dialog) => { this.dialogs.push(dialog.message()); void dialog.dismiss(); });
    page.on('pageerror', (error) => this.pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error' && !/status of (400|403|404|409|422)\b/.test(message.text())) this.pageErrors.push(message.text());
    });
  }

  static async open(browser: Browser, baseURL: string, artifactPrefix = 'tab'): Promise<BrowserTab> {
    const context = await browser.newContext({ baseURL, viewport: { width: 1280, height: 860 } });
    return new BrowserTab(context, await context.newPage(), artifactPrefix);
  }

  /** Signs in through the login form (the user must exist, with the web world's PASSWORD). */
  async signIn(username: string): Promise<void> {
    await this.page.goto('/login');
    await this.page.fill('#username', username);
    await this.page.fill('#password', PASSWORD);
    await Promise.all([this.page.waitForURL((url) => !url.pathname.startsWith('/login')), this.page.click('button[type=submit]')]);
  }

  /** The first flash message's text. */
  async flash(): Promise<string> {
    return (await this.page.locator('.flash').first().textContent())?.trim() ?? '';
  }

  /** A full-page screenshot under test-artifacts/e2e, for people reading a failed run. */
  async screenshot(name: string): Promise<void> {
    this.shot += 1;
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await this.page.screenshot({ path: path.join(ARTIFACTS, `${this.artifactPrefix}-${String(this.shot).padStart(2, '0')}-${name}.png`), fullPage: true });
  }

  async close(): Promise<void> {
    await this.context.close();
  }
}

/** A signed-in tab for a user of the given role, created in the world when missing. */
export async function signedInTab(browser: Browser, world: WebWorld, username: string, role: Role, artifactPrefix = username): Promise<BrowserTab> {
  if (!(await world.services.users.findByUsername(username))) await world.createUser(username, role);
  const tab = await BrowserTab.open(browser, world.url, artifactPrefix);
  await tab.signIn(username);
  return tab;
}

/**
 * A browser test's end: a screenshot when it failed, then the tab and the world closed, and
 * every test checked for script errors and Content-Security-Policy violations on its pages.
 */
export async function endBrowserTest(test: Mocha.Test | undefined, tab: BrowserTab | undefined, world: { close(): Promise<void> } | undefined): Promise<void> {
  if (test?.state === 'failed') await tab?.screenshot('failed').catch(() => undefined);
  const errors = tab?.pageErrors ?? [];
  await tab?.close();
  await world?.close();
  assert.deepEqual(errors, [], 'no script errors and no CSP violations');
}
