/**
 * Opening environments through the router in a real browser (playwright-core driving Debian's
 * chromium, headless), against the in-process app and worker on the real engines: the sign-in
 * handshake across origins, a share link in a fresh browser, and a tampered link refused.
 * Screenshots go to test-results/screenshots/router-*.png.
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

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `router-${name}.png`), fullPage: true });
}

describe('opening environments through the router in a browser', () => {
  let h: Harness;
  let browser: Browser;
  let name: string;
  let address: string;
  before(async () => {
    // This file's screenshots only (web.test.ts keeps its own beside them).
    mkdirSync(SHOTS, { recursive: true });
    for (const f of readdirSync(SHOTS)) if (f.startsWith('router-')) rmSync(path.join(SHOTS, f));
    h = await startHarness({ env: { MAYFLY_HEALTH_TIMEOUT: '5m' } });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    name = uniqueName('shop-pr-2');
    const ready = await h.api('PUT', `/api/v1/environments/${name}?wait=600`, { template: 'shop', tag: 'pr-2', ttl: '1h' });
    assert.equal(ready.body.status, 'ready', JSON.stringify(ready.body.failure));
    address = ready.body.url;
    assert.equal(ready.body.access, 'signed-in', 'private by default');
  });
  after(async () => {
    await browser?.close();
    await h?.close();
  });

  it('when a person who is not signed in opens the address, then Mayfly asks for sign-in and brings them back to the app', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    try {
      await page.goto(`${address}/?from=e2e`);
      assert.match(page.url(), new RegExp(`^${h.baseUrl}/sign-in\\?next=`), 'sent to the web app to sign in');
      await shot(page, '01-sign-in-first');
      await page.getByLabel('API token').fill(TOKEN);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(`${address}/?from=e2e`);
      assert.equal(await page.getByTestId('tag').innerText(), 'pr-2');
      await shot(page, '02-app-after-handshake');
      const cookie = (await context.cookies(address)).find((c) => c.name === 'mayfly_preview');
      assert.ok(cookie, 'the router set its cookie');
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.sameSite, 'Lax');
      assert.equal(cookie.domain, `${name}.localhost`, 'on this host only');
      // The page's script cannot read it.
      assert.equal(await page.evaluate('document.cookie.includes("mayfly_preview")'), false);
    } finally {
      await context.close();
    }
  });

  it('when the team makes a share link on the environment\'s page, then a fresh browser without an account opens the app, and a tampered link is refused', async () => {
    const owner = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await owner.newPage();
    page.setDefaultTimeout(30_000);
    let link: string;
    try {
      await page.goto(`${h.baseUrl}/environments/${name}`);
      await page.getByLabel('API token').fill(TOKEN);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(`${h.baseUrl}/environments/${name}`);
      await page.getByLabel('Share for').fill('2h');
      await page.getByRole('button', { name: 'Share link' }).click();
      const flash = page.getByText(`Share link for ${name}`);
      await flash.waitFor();
      await shot(page, '03-share-link-made');
      const m = /(http:\/\/\S+\/\.mayfly\/share\?token=\S+)/.exec(await flash.innerText());
      assert.ok(m, 'the message carries the link');
      link = m[1]!;
    } finally {
      await owner.close();
    }

    const guest = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const visit = await guest.newPage();
    visit.setDefaultTimeout(30_000);
    try {
      await visit.goto(link);
      assert.equal(visit.url(), `${address}/`, 'the link leads to the app, not to a sign-in page');
      assert.equal(await visit.getByTestId('tag').innerText(), 'pr-2');
      await shot(visit, '04-opened-by-share-link');
      // It opens that environment only: Mayfly's own pages still ask for sign-in.
      await visit.goto(`${h.baseUrl}/`);
      assert.match(visit.url(), /\/sign-in\?next=/);
    } finally {
      await guest.close();
    }

    const stranger = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const bad = await stranger.newPage();
    bad.setDefaultTimeout(30_000);
    try {
      const token = new URL(link).searchParams.get('token')!;
      const tampered = link.replace(token, `${token.slice(0, 10)}${token[10] === 'A' ? 'B' : 'A'}${token.slice(11)}`);
      const answer = await bad.goto(tampered);
      assert.equal(answer?.status(), 403);
      await bad.getByRole('heading', { name: /This share link does not open/ }).waitFor();
      assert.match(await bad.locator('main').innerText(), /signature does not match/);
      await shot(bad, '05-tampered-link-refused');
      assert.equal((await stranger.cookies(address)).some((c) => c.name === 'mayfly_preview'), false, 'no cookie');
      // And without the link the address asks for sign-in.
      await bad.goto(`${address}/`);
      assert.match(bad.url(), /\/sign-in\?next=/);
    } finally {
      await stranger.close();
    }
  });
});
