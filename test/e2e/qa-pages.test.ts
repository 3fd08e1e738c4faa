/**
 * The QA pages of issue 19 in a real browser (playwright-core driving Debian's chromium,
 * headless) against the in-process app and worker on the real engines and the real registry:
 * the tag picker and its errors, the grouped live timeline and "show all", "another one like
 * this" and a saved dataset, the overview page, and the list's order and remembered filter.
 * Screenshots go to test-results/screenshots/qa-*.png.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { projectRoot } from '../../core/config/config.js';
import { TOKEN, startHarness, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';
import { assertTagsNamedExist } from '../helpers/registry-tags.js';

const SHOTS = path.join(projectRoot(), 'test-results', 'screenshots');
const CHROMIUM = process.env.MAYFLY_CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p)) ?? 'chromium';
/** The machine is shared and loaded: an environment takes 5-60 s to become ready, minutes when busy. */
const SLOW = 480_000;
const OTHER = { Authorization: 'Bearer other-secret-0123456789' };

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

async function untilReady(page: Page, what: string): Promise<void> {
  await page.locator('#status-badge .status-ready, #status-badge .status-failed').waitFor({ timeout: SLOW });
  if (await page.locator('#status-badge .status-failed').count()) {
    await shot(page, 'qa-99-failed');
    assert.fail(`${what}: the environment failed\n${await page.locator('main').innerText()}`);
  }
}

async function signIn(page: Page, h: Harness): Promise<void> {
  await page.goto(`${h.baseUrl}/sign-in`);
  await page.getByLabel('API token').fill(TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${h.baseUrl}/`);
}

describe('QA pages that know what exists, in a browser', () => {
  let h: Harness;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  /** The environment the first test makes ready, and its copy. */
  const name = uniqueName('qa-shop');
  const copy = `${name}-2`;

  before(async () => {
    // This run's qa-* screenshots only (web.test.ts keeps its own).
    mkdirSync(SHOTS, { recursive: true });
    for (const f of readdirSync(SHOTS)) if (f.startsWith('qa-')) rmSync(path.join(SHOTS, f));
    // Two environments at once: a third waits in line, so the overview has a queue to show.
    h = await startHarness({ env: { MAYFLY_HEALTH_TIMEOUT: '5m', MAYFLY_MAX_ENVIRONMENTS: '2' } });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(30_000);
    await signIn(page, h);
  });
  after(async () => {
    await context?.close();
    await browser?.close();
    await h?.close();
  });

  it('when a tester opens the form, then the registry\'s tags are offered; an unknown tag, a tag of another repository and a TTL past the maximum are refused on their fields and nothing is created', async () => {
    try {
      await page.goto(`${h.baseUrl}/environments/new`);
      const offered = await page.locator('#tags-all option').evaluateAll((os) => os.map((o) => o.getAttribute('value') ?? ''));
      for (const tag of ['main', 'pr-1', 'pr-2']) assert.ok(offered.includes(tag), `${tag} is offered: ${offered.join(', ')}`);
      assert.equal(await page.getByLabel(/^One tag for every service/).getAttribute('list'), 'tags-all');
      assert.match(await page.locator('#tags-all option[value="pr-1"]').getAttribute('label') ?? '', /^pr-1 · pushed .* ago \(\d{4}-\d\d-\d\d \d\d:\d\d UTC\)$/);
      await page.locator('#registry-tags summary').click();
      await page.locator('#registry-tags table[data-service="web"]').getByText('pr-2', { exact: true }).waitFor();
      await shot(page, 'qa-01-tag-picker');

      // Keyboard: the tag field is reachable from the name field with Tab (focus order follows the form).
      await page.getByLabel(/^Name/).focus();
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate('document.activeElement.id'), 'tag');

      const typo = uniqueName('typo');
      await page.getByLabel(/^Name/).fill(typo);
      await page.getByLabel(/^One tag for every service/).fill('pr-9');
      await page.getByLabel(/^Time to live/).fill('48h');
      await page.getByRole('button', { name: 'Create environment' }).click();
      await page.locator('#tag-error').waitFor();
      const said = await page.locator('#tag-error').innerText();
      assert.match(said, /"pr-9" is not a tag of 127\.0\.0\.1:5000\/mayfly\/shop\. Tags it has, newest first: \S/);
      await assertTagsNamedExist(said);
      assert.match(await page.locator('#ttl-error').innerText(), /longer than the template's maximum/);
      assert.equal(await page.getByLabel(/^One tag for every service/).getAttribute('aria-invalid'), 'true');
      await shot(page, 'qa-02-unknown-tag-and-ttl-refused');

      await page.getByLabel(/^One tag for every service/).fill('15');
      await page.getByLabel(/^Time to live/).fill('1h');
      await page.getByRole('button', { name: 'Create environment' }).click();
      await page.locator('#tag-error').getByText(/it is a tag of 127\.0\.0\.1:5000\/mayfly\/postgres \(the image of db\)/).waitFor();
      await shot(page, 'qa-03-tag-of-another-repository');
      assert.equal((await h.api('GET', `/api/v1/environments/${typo}`)).status, 404, 'nothing was created');
    } catch (err) {
      await shot(page, 'qa-99-failure').catch(() => undefined);
      throw err;
    }
  });

  it('when an environment is made from a picked tag, then its timeline groups repeated progress live, shows the latest rows with "show all", and "another one like this" and a saved dataset prefill the form', async () => {
    try {
      await page.goto(`${h.baseUrl}/environments/new`);
      await page.getByLabel(/^Name/).fill(name);
      await page.getByLabel(/^One tag for every service/).fill('pr-1');
      await page.getByLabel(/^Time to live/).fill('1h');
      await page.getByRole('button', { name: 'Create environment' }).click();
      await page.waitForURL(`${h.baseUrl}/environments/${name}`);
      await page.evaluate('window.marker = 42');
      await untilReady(page, 'after create');

      // Progress lines arriving while the page is open fold into one row, without a reload.
      const env = (await h.store.getByName(name))!;
      for (let i = 1; i <= 37; i++) await h.store.addEvent(env.id, 'progress', `pulling 127.0.0.1:5000/mayfly/shop:pr-1: layer ${i} of 37`, { step: 'pull' });
      const group = page.locator('#timeline > li[data-group="progress:pull"]').last();
      await group.locator('.count', { hasText: '×37' }).waitFor();
      assert.match(await group.innerText(), /pull progress ×37 pulling 127\.0\.0\.1:5000\/mayfly\/shop:pr-1: layer 37 of 37/);
      assert.equal(await page.evaluate('window.marker'), 42, 'grouped live, not by a reload');
      await group.locator('summary').click();
      await shot(page, 'qa-04-timeline-grouped-live');

      // After many events the page shows the latest rows and links to all of them.
      for (let i = 1; i <= 25; i++) await h.store.addEvent(env.id, 'heal', `healed: web restarted (${i})`);
      await page.reload();
      assert.equal(await page.locator('#timeline > li').count(), 20, 'the latest 20 rows');
      const total = (await h.store.events(env.id)).length;
      assert.match(await page.locator('#timeline-info').innerText(), new RegExp(`The latest 20 of ${total} events`));
      await shot(page, 'qa-05-timeline-latest');
      await page.getByRole('link', { name: `Show all ${total} events` }).click();
      await page.waitForURL(/\?events=all/);
      assert.ok(await page.locator('#timeline > li').count() > 20);
      assert.equal(await page.locator('#timeline li[data-event-id]').count(), total, 'every event, grouped ones inside their group');
      await shot(page, 'qa-06-timeline-all');

      // Another one like this: one click to the form, filled in, with a free name.
      await page.getByRole('link', { name: 'Another one like this' }).click();
      await page.waitForURL(/\/environments\/new\?from=/);
      await page.locator('#like-note').waitFor();
      assert.equal(await page.getByLabel(/^Name/).inputValue(), copy);
      assert.equal(await page.getByLabel(/^One tag for every service/).inputValue(), 'pr-1');
      assert.equal(await page.getByLabel(/^Time to live/).inputValue(), '1h');
      assert.equal(await page.getByLabel('Seed dataset').inputValue(), 'demo');
      await shot(page, 'qa-07-another-one-like-this');
      await page.getByRole('button', { name: 'Create environment' }).click();
      await page.waitForURL(`${h.baseUrl}/environments/${copy}`);
      const made = await h.api('GET', `/api/v1/environments/${copy}`);
      assert.deepEqual(made.body.images, (await h.api('GET', `/api/v1/environments/${name}`)).body.images);

      // A dataset saved from the first one: its page offers a new environment with that data.
      const dataset = uniqueName('saved');
      await h.ctx.snapshots.begin({ key: `saved-${dataset}`, dataset, kind: 'saved', template: 'shop', contentHash: dataset, image: 'x', imageDigest: 'x', volume: `v-${dataset}`, sourceEnv: env.id, createdBy: 'test' });
      await h.ctx.snapshots.markReady(`saved-${dataset}`, 1, 1);
      await page.goto(`${h.baseUrl}/environments/${name}`);
      await page.getByRole('link', { name: `New environment with the ${dataset} dataset` }).click();
      await page.waitForURL(/\/environments\/new\?template=shop&seed=/);
      assert.equal(await page.getByLabel('Seed dataset').inputValue(), dataset);
      await shot(page, 'qa-08-saved-dataset-prefill');
    } catch (err) {
      await shot(page, 'qa-99-failure').catch(() => undefined);
      throw err;
    }
  });

  it('when the installation is full, then the overview shows the limits, the queue with positions, failures with reasons and 24-hour charts; the list puts failed first and remembers "mine only"', async () => {
    try {
      // Both slots are held (the ready one and its copy): these two wait in line.
      const broken = uniqueName('qa-broken');
      const theirs = uniqueName('qa-theirs');
      assert.equal((await h.api('PUT', `/api/v1/environments/${broken}`, { template: 'shop', tag: 'no-such-tag' })).status, 202);
      assert.equal((await h.api('PUT', `/api/v1/environments/${theirs}`, { template: 'shop' }, OTHER)).status, 202);
      await waitUntil('both to wait in line', 60_000, async () => {
        const [a, b] = await Promise.all([h.api('GET', `/api/v1/environments/${broken}`), h.api('GET', `/api/v1/environments/${theirs}`)]);
        return a.body.status === 'queued' && b.body.queuePosition === 2;
      });
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Overview' }).click();
      await page.waitForURL(`${h.baseUrl}/overview`);
      assert.match(await page.locator('#limit-environments').innerText(), /^2 of 2/);
      assert.match(await page.locator(`tr[data-queued="${broken}"]`).innerText(), /^1\s+.*in about/s);
      assert.match(await page.locator(`tr[data-queued="${theirs}"]`).innerText(), /^2\s/);
      await page.getByRole('img', { name: /Environments running/ }).waitFor();
      await shot(page, 'qa-09-overview-queue');

      // Free a slot: the broken one starts, fails at its pull, and the overview says why.
      assert.equal((await h.api('DELETE', `/api/v1/environments/${copy}`)).status, 202);
      await waitUntil(`${broken} to fail`, SLOW, async () => (await h.api('GET', `/api/v1/environments/${broken}`)).body.status === 'failed');
      await page.reload();
      const failure = page.locator(`tr[data-failed="${broken}"]`);
      assert.match(await failure.innerText(), /no-such-tag/);
      const running = page.getByRole('img', { name: /Environments running/ });
      assert.match(await running.locator('desc').textContent() ?? '', /now [12],/);
      await page.locator('#chart-ready summary').click();
      await shot(page, 'qa-10-overview-failures-and-charts');
      await page.setViewportSize({ width: 390, height: 844 });
      await shot(page, 'qa-11-overview-phone');
      await page.setViewportSize({ width: 1280, height: 900 });

      // The list: failed first (and named for screen readers), then expiring soon; "mine only" remembered.
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Environments' }).click();
      const rows = page.locator('table.envs tbody tr');
      assert.equal(await rows.first().getAttribute('data-env'), broken);
      assert.match(await rows.first().locator('[data-field="status"]').innerText(), /^Status:\s*failed$/);
      assert.equal(await page.locator(`tr[data-env="${name}"]`).getAttribute('data-attention'), 'expiring', 'a 1h lease expires soon');
      await page.getByLabel('Mine only').check();
      await page.getByRole('button', { name: 'Filter' }).click();
      await page.waitForURL(/filtered=1/);
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Overview' }).click();
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Environments' }).click();
      await page.waitForURL(`${h.baseUrl}/`);
      assert.ok(await page.getByLabel('Mine only').isChecked(), 'remembered');
      assert.equal(await page.locator(`tr[data-env="${theirs}"]`).count(), 0, 'only mine');
      assert.equal(await rows.first().getAttribute('data-env'), broken);
      await shot(page, 'qa-12-list-attention-mine-remembered');
    } catch (err) {
      await shot(page, 'qa-99-failure').catch(() => undefined);
      throw err;
    }
  });
});
