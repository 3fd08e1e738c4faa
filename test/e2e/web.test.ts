/**
 * The QA web pages in a real browser: playwright-core driving Debian's chromium, headless,
 * against the in-process app and worker on the real engines. Screenshots of each page go to
 * test-results/screenshots/.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { projectRoot } from '../../core/config/config.js';
import { TOKEN, startHarness, uniqueName, type Harness } from '../helpers/harness.js';

const SHOTS = path.join(projectRoot(), 'test-results', 'screenshots');
const CHROMIUM = process.env.MAYFLY_CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p)) ?? 'chromium';
/** The machine is shared and loaded: an environment takes 5-60 s to become ready, minutes when busy. */
const SLOW = 480_000;

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** Waits until the page shows the environment ready; a failure says why, with the timeline. */
async function untilReady(page: Page, what: string): Promise<void> {
  await page.locator('#status-badge .status-ready, #status-badge .status-failed').waitFor({ timeout: SLOW });
  if (await page.locator('#status-badge .status-failed').count()) {
    await shot(page, '99-failed');
    assert.fail(`${what}: the environment failed\n${await page.locator('main').innerText()}`);
  }
}

async function signIn(page: Page, h: Harness): Promise<void> {
  await page.goto(`${h.baseUrl}/`);
  assert.match(page.url(), /\/sign-in\?next=/);
  await shot(page, '01-sign-in');
  await page.getByLabel('API token').fill(TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${h.baseUrl}/`);
}

describe('the QA web pages in a browser', () => {
  let h: Harness;
  let browser: Browser;
  before(async () => {
    // This run's screenshots only: a failure shot of an earlier run must not linger beside them
    // (qa-pages.test.ts keeps its own qa-* ones).
    mkdirSync(SHOTS, { recursive: true });
    for (const f of readdirSync(SHOTS)) if (!f.startsWith('qa-')) rmSync(path.join(SHOTS, f), { recursive: true, force: true });
    // The machine is shared: health may take long when it is busy; this file tests the pages, not speed.
    h = await startHarness({ env: { MAYFLY_HEALTH_TIMEOUT: '5m' } });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  });
  after(async () => {
    await browser?.close();
    await h?.close();
  });

  it('when a person signs in and creates shop at pr-1 from the form, then it becomes ready without a reload, its address shows the demo app, and extend, reset data and destroy work, saying why it went away', async (t) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    try {
      await signIn(page, h);
      await shot(page, '02-environments-empty');

      const name = uniqueName('shop-pr-1');
      await page.getByRole('link', { name: 'New environment' }).first().click();
      await page.waitForURL(/\/environments\/new/);
      assert.equal(await page.getByLabel('Time to live').inputValue(), '4h', 'the template default is filled in');
      await page.getByLabel(/^Name/).fill(name);
      await page.getByLabel(/^One tag for every service/).fill('pr-1');
      await shot(page, '03-new-environment');
      await page.getByRole('button', { name: 'Create environment' }).click();
      await page.waitForURL(`${h.baseUrl}/environments/${name}`);
      await page.getByText(`Environment ${name} requested`).waitFor();

      // Live: the page is never reloaded; a marker set now must survive until ready.
      await page.evaluate('window.marker = 42');
      const started = Date.now();
      await untilReady(page, 'after create');
      t.diagnostic(`ready on the page after ${Date.now() - started} ms`);
      assert.equal(await page.evaluate('window.marker'), 42, 'the page became ready without a reload');
      const timeline = await page.locator('#timeline').innerText();
      assert.match(timeline, /ready/);
      await page.locator('#env-url').waitFor();
      await page.locator('#services .health-healthy').first().waitFor();
      await shot(page, '04-environment-ready');

      // Follow whatever address the page links.
      const address = await page.locator('#env-url').getAttribute('href');
      assert.ok(address, 'the page shows an address');
      const app = await context.newPage();
      await app.goto(address!);
      assert.equal(await app.getByTestId('tag').innerText(), 'pr-1');
      await shot(app, '05-demo-app');
      await app.close();

      // The table lists it with its tag and address.
      await page.goto(`${h.baseUrl}/`);
      const row = page.locator(`tr[data-env="${name}"]`);
      assert.match(await row.innerText(), /web: pr-1/);
      await shot(page, '06-environments');
      await row.getByRole('link', { name: 'Details' }).click();

      await page.getByLabel('Expire in').fill('2h');
      await page.getByRole('button', { name: 'Extend' }).click();
      await page.getByText(/Extended: .* now expires in 1h59m|Extended: .* now expires in 2h/).waitFor();
      await shot(page, '07-extended');

      await page.getByRole('button', { name: 'Reset data' }).click();
      await page.getByText(`Resetting the data of ${name}`).waitFor();
      await page.locator('#timeline').getByText(/reset/i).first().waitFor();
      await untilReady(page, 'after reset');
      await page.locator('#services .health-healthy').first().waitFor({ timeout: SLOW });
      await shot(page, '08-reset');

      await page.getByRole('button', { name: 'Destroy' }).click();
      await page.getByText(`Destroying ${name}`).waitFor();
      // Why it went away, shown live once the worker has torn it down.
      const gone = page.locator('#gone-reason');
      await gone.waitFor({ timeout: SLOW });
      assert.match(await gone.innerText(), /destroyed \(by test\)/);
      assert.match(await page.locator('#timeline').innerText(), /destroyed/);
      await shot(page, '09-destroyed');
      const api = await h.api('GET', `/api/v1/environments/${name}`);
      assert.equal(api.body.status, 'destroyed');
      assert.equal(api.body.door, 'web');
    } catch (err) {
      await shot(page, '99-failure').catch(() => undefined);
      throw err;
    } finally {
      await context.close();
    }
  });

  it('when a form is posted without a CSRF token, then it is refused; when a name or tag holds a <script>, then it shows as text', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await signIn(page, h);
      await page.goto(`${h.baseUrl}/environments/new`);
      // Remove the token from the form, as a forged cross-site form would lack it.
      await page.evaluate(`document.querySelectorAll('input[name="_csrf"]').forEach((e) => e.remove())`);
      await page.getByRole('button', { name: 'Create environment' }).click();
      await page.getByRole('heading', { name: 'This form was refused' }).waitFor();
      await shot(page, '10-csrf-refused');

      await page.goto(`${h.baseUrl}/environments/new`);
      const evil = '<script>window.pwned = 1</script>';
      await page.getByLabel(/^Name/).fill(evil);
      await page.getByLabel(/^One tag for every service/).fill(`<img src=x onerror="window.pwned=2">`);
      await page.getByRole('button', { name: 'Create environment' }).click();
      const nameError = page.locator('#name-error');
      await nameError.waitFor();
      assert.match(await nameError.innerText(), /<script>window\.pwned = 1<\/script>/, 'the error echoes the name as text');
      assert.equal(await page.getByLabel(/^Name/).inputValue(), evil, 'the value is kept');
      assert.match(await page.locator('#tag-error').innerText(), /<img src=x/);
      assert.equal(await page.evaluate('window.pwned'), undefined, 'nothing typed ran');
      await shot(page, '11-escaped-errors');
      // The same pages on a phone-sized screen.
      await page.setViewportSize({ width: 390, height: 844 });
      await page.goto(`${h.baseUrl}/`);
      await shot(page, '12-environments-phone');
    } finally {
      await context.close();
    }
  });
});
