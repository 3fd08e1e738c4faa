/**
 * The queue dashboard (/admin/queues, bull-board) in a real browser: playwright-core driving
 * Debian's chromium, headless. An admin signs in on Mayfly's sign-in page and sees the dashboard
 * with the session cookie alone; a person who is not an admin is refused. Screenshots go to
 * test-results/screenshots/ (queues-*.png, beside test/e2e/web.test.ts's).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { projectRoot } from '../../core/config/config.js';
import { TOKEN, startHarness, type Harness } from '../helpers/harness.js';

const SHOTS = path.join(projectRoot(), 'test-results', 'screenshots');
const CHROMIUM = process.env.MAYFLY_CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p)) ?? 'chromium';
const OTHER = 'other-secret-0123456789';

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `queues-${name}.png`), fullPage: true });
}

/** Opens the dashboard, lands on the sign-in page, signs in there with `token`, and is sent back. */
async function signInFromDashboard(page: Page, h: Harness, token: string, shotName?: string): Promise<void> {
  await page.goto(`${h.baseUrl}/admin/queues`);
  assert.match(page.url(), /\/sign-in\?next=%2Fadmin%2Fqueues$/);
  if (shotName) await shot(page, shotName);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${h.baseUrl}/admin/queues`);
}

describe('the queue dashboard in a browser', () => {
  let h: Harness;
  let browser: Browser;
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    for (const old of ['01-sign-in', '02-dashboard', '03-refused', '99-failure']) rmSync(path.join(SHOTS, `queues-${old}.png`), { force: true });
    // The harness's tokens are "test" (made an admin here) and "other".
    h = await startHarness({ worker: false, env: { MAYFLY_ADMINS: 'test' } });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  });
  after(async () => {
    await browser?.close();
    await h?.close();
  });

  it('when an admin opens /admin/queues, then the sign-in page takes them back to the dashboard, which shows the provision and lifecycle queues', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    try {
      await signInFromDashboard(page, h, TOKEN, '01-sign-in');
      // bull-board's own page, its data fetched by its script with the session cookie.
      await page.getByText('Mayfly queues').first().waitFor();
      await page.getByText('provision', { exact: true }).first().waitFor();
      await page.getByText('lifecycle', { exact: true }).first().waitFor();
      // A queue's page: its job lists come from the dashboard's API, asked with the cookie alone.
      await page.getByText('provision', { exact: true }).first().click();
      await page.waitForURL(/\/admin\/queues\/queue\/provision/);
      await page.getByText('No latest jobs in this queue.').waitFor(); // the harness queued nothing
      await shot(page, '02-dashboard');
      const cookies = await context.cookies();
      assert.ok(cookies.some((c) => c.name === 'mayfly_session' && c.httpOnly), 'signed in by the HttpOnly session cookie');
    } catch (err) {
      await shot(page, '99-failure').catch(() => undefined);
      throw err;
    } finally {
      await context.close();
    }
  });

  it('when someone who is not an admin signs in and opens /admin/queues, then they are refused with a page saying why, and see no queue', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    try {
      const answers: number[] = [];
      page.on('response', (res) => { if (res.url() === `${h.baseUrl}/admin/queues`) answers.push(res.status()); });
      await signInFromDashboard(page, h, OTHER);
      await page.getByText('"other" is not an admin (MAYFLY_ADMINS); the queue dashboard is for admins only').waitFor();
      assert.equal(answers.at(-1), 403);
      assert.equal(await page.getByText('Mayfly queues').count(), 0);
      await shot(page, '03-refused');
      // Its API refuses the same browser too.
      const api = await page.evaluate(async () => (await fetch('/admin/queues/api/queues')).status);
      assert.equal(api, 403);
    } catch (err) {
      await shot(page, '99-failure').catch(() => undefined);
      throw err;
    } finally {
      await context.close();
    }
  });
});
