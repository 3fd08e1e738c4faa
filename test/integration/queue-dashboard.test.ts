import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, TOKEN, type Harness } from '../helpers/harness.js';
import { signIn, visitor, type Browserless } from '../helpers/web.js';

const OTHER = 'other-secret-0123456789';

describe('the queue dashboard at /admin/queues', () => {
  let h: Harness;
  // The harness's tokens are "test" and "other"; only "test" is an admin.
  before(async () => { h = await startHarness({ worker: false, env: { MAYFLY_ADMINS: 'test' } }); });
  after(async () => { await h.close(); });

  /** GET with the browser's session cookie only (no bearer token), as the dashboard's own script asks. */
  const asBrowser = (v: Browserless, path: string, accept = 'text/html') => fetch(`${h.baseUrl}${path}`, { redirect: 'manual', headers: { cookie: v.cookie, accept } });

  it('when nobody is signed in, then a script gets 401 and a browser is sent to the sign-in page, coming back after', async () => {
    for (const path of ['/admin/queues', '/admin/queues/api/queues']) {
      const res = await h.api('GET', path, undefined, {});
      assert.equal(res.status, 401, path);
      assert.equal(res.body.error.code, 'UNAUTHORIZED');
    }
    const bad = await h.api('GET', '/admin/queues', undefined, { Authorization: 'Bearer not-a-token-at-all' });
    assert.equal(bad.status, 401);
    const page = await visitor(h.baseUrl).get('/admin/queues');
    assert.equal(page.status, 303);
    assert.equal(page.headers.get('location'), '/sign-in?next=%2Fadmin%2Fqueues');
    assert.doesNotMatch(page.html, /Mayfly queues/);

    // The sign-in form takes the admin back to the dashboard, signed in by the session cookie alone.
    const v = visitor(h.baseUrl);
    const signed = await v.post('/sign-in', { _csrf: await v.csrf('/sign-in?next=%2Fadmin%2Fqueues'), token: TOKEN, next: '/admin/queues' });
    assert.equal(signed.status, 303);
    assert.equal(signed.headers.get('location'), '/admin/queues');
    assert.equal((await asBrowser(v, '/admin/queues')).status, 200);
  });

  it('when a non-admin asks, by token or signed in on the pages, then it answers 403 naming who is not an admin, for the page and its API', async () => {
    for (const path of ['/admin/queues', '/admin/queues/api/queues']) {
      const res = await h.api('GET', path, undefined, { Authorization: `Bearer ${OTHER}` });
      assert.equal(res.status, 403, path);
      assert.equal(res.body.error.code, 'FORBIDDEN');
      assert.match(res.body.error.message, /"other" is not an admin/);
    }
    const other = await signIn(h.baseUrl, OTHER);
    const page = await asBrowser(other, '/admin/queues');
    assert.equal(page.status, 403);
    assert.match(await page.text(), /&quot;other&quot; is not an admin|"other" is not an admin/);
    const api = await asBrowser(other, '/admin/queues/api/queues', 'application/json');
    assert.equal(api.status, 403);
    assert.match(((await api.json()) as { error: { message: string } }).error.message, /"other" is not an admin/);
  });

  it('when an admin asks with a token, then it serves the dashboard and the provision and lifecycle queues', async () => {
    const page = await h.api('GET', '/admin/queues', undefined, { Authorization: `Bearer ${TOKEN}` });
    assert.equal(page.status, 200);
    assert.match(String(page.body), /<html/i);
    const api = await h.api('GET', '/admin/queues/api/queues', undefined, { Authorization: `Bearer ${TOKEN}` });
    assert.equal(api.status, 200, JSON.stringify(api.body));
    const names = (api.body.queues as { name: string }[]).map((q) => q.name).sort();
    assert.deepEqual(names, ['lifecycle', 'provision']);
  });

  it('when an admin signed in through the sign-in form asks with the session cookie alone, then the page and its API answer', async () => {
    const admin = await signIn(h.baseUrl, TOKEN);
    const page = await asBrowser(admin, '/admin/queues');
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);
    const api = await asBrowser(admin, '/admin/queues/api/queues', 'application/json');
    assert.equal(api.status, 200);
    assert.deepEqual(((await api.json()) as { queues: { name: string }[] }).queues.map((q) => q.name).sort(), ['lifecycle', 'provision']);
  });

  it('when a change comes with the session cookie from another site (or without an Origin), then 403; from the dashboard itself, or by token, it is done', async () => {
    const admin = await signIn(h.baseUrl, TOKEN);
    const put = (headers: Record<string, string>) => fetch(`${h.baseUrl}/admin/queues/api/queues/provision/retry/failed`, { method: 'PUT', redirect: 'manual', headers: { accept: 'application/json', ...headers } });
    for (const origin of ['https://evil.example', 'null', undefined]) {
      const res = await put({ cookie: admin.cookie, ...(origin ? { origin } : {}) });
      assert.equal(res.status, 403, String(origin));
      assert.match(((await res.json()) as { error: { message: string } }).error.message, /must come from the queue dashboard itself/);
    }
    assert.equal((await put({ cookie: admin.cookie, origin: h.baseUrl })).status, 200);
    assert.equal((await put({ Authorization: `Bearer ${TOKEN}` })).status, 200, 'a script with a token sends no Origin');
  });
});
