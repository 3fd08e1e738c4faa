import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AUTH, TOKEN, startHarness, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';
import { randomUUID } from 'node:crypto';
import { readEvents, signIn, visitor } from '../helpers/web.js';
import { startInternalServer } from '../../worker/internal-http.js';
import { INTERNAL_SECRET_HEADER } from '../../core/platform/internal-api.js';

describe('web sign-in, CSRF and escaping (HTTP level)', () => {
  let h: Harness;
  before(async () => { h = await startHarness({ worker: false }); });
  after(async () => { await h.close(); });

  it('when nobody is signed in, then a page redirects to the sign-in page and a wrong token is refused', async () => {
    const v = visitor(h.baseUrl);
    const list = await v.get('/');
    assert.equal(list.status, 303);
    assert.equal(list.headers.get('location'), '/sign-in?next=%2F');
    const wrong = await v.post('/sign-in', { _csrf: await v.csrf(), token: 'not-a-token-at-all', next: '/' });
    assert.equal(wrong.status, 401);
    assert.match(wrong.html, /token is not valid/);
    assert.equal((await v.get('/')).status, 303, 'still not signed in');
  });

  it('when a valid token is given, then the session cookie is HttpOnly, SameSite=Lax, not Secure over http, and the pages open', async () => {
    const v = visitor(h.baseUrl);
    const res = await fetch(`${h.baseUrl}/sign-in`, {
      method: 'POST', redirect: 'manual', headers: { cookie: '', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: await v.csrf(), token: TOKEN, next: '/environments/new' }),
    });
    // Without the anonymous session cookie the CSRF token cannot match: refused.
    assert.equal(res.status, 403);
    const ok = await v.post('/sign-in', { _csrf: await v.csrf(), token: TOKEN, next: '/environments/new' });
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.get('location'), '/environments/new');
    const cookie = ok.headers.getSetCookie().find((c) => c.startsWith('mayfly_session='))!;
    assert.match(cookie, /; HttpOnly/);
    assert.match(cookie, /; SameSite=Lax/);
    assert.doesNotMatch(cookie, /Secure/);
    const page = await v.get('/environments/new');
    assert.equal(page.status, 200);
    assert.match(page.html, /Signed in as <strong>test<\/strong>/);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  });

  it('when a session cookie is tampered with, then it is not believed', async () => {
    const v = await signIn(h.baseUrl, TOKEN);
    const [payload, mac] = v.cookie.slice('mayfly_session='.length).split('.');
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), name: 'other' })).toString('base64url');
    const res = await visitor(h.baseUrl, `mayfly_session=${forged}.${mac}`).get('/');
    assert.equal(res.status, 303);
  });

  it('when a form is POSTed without the CSRF token or with another session\'s, then it is refused with 403 and nothing is created', async () => {
    const alice = await signIn(h.baseUrl, TOKEN);
    const bob = await signIn(h.baseUrl, 'other-secret-0123456789');
    const name = uniqueName('csrf');
    const none = await alice.post('/environments', { template: 'shop', name });
    assert.equal(none.status, 403);
    assert.match(none.html, /This form was refused/);
    const foreign = await alice.post('/environments', { template: 'shop', name, _csrf: await bob.csrf('/') });
    assert.equal(foreign.status, 403);
    assert.equal((await h.api('GET', `/api/v1/environments/${name}`)).status, 404);
  });

  it('when the form has errors, then each shows next to its field, escaped, with the values kept', async () => {
    const v = await signIn(h.baseUrl, TOKEN);
    const evil = '<script>alert(1)</script>';
    const res = await v.post('/environments', { _csrf: await v.csrf('/environments/new'), template: 'shop', name: evil, tag: `x${evil}`, ttl: '99d', seed: 'demo' });
    assert.equal(res.status, 400);
    assert.doesNotMatch(res.html, /<script>alert/);
    assert.match(res.html, /value="&lt;script&gt;alert\(1\)&lt;\/script&gt;"/, 'the name typed is kept, escaped');
    assert.match(res.html, /<p class="field-error" id="name-error">[^<]*&lt;script&gt;/);
    assert.match(res.html, /<p class="field-error" id="tag-error">/);
    assert.match(res.html, /<p class="field-error" id="ttl-error">[^<]*maximum/);
  });

  it('when an environment does not exist, then its page is a helpful 404', async () => {
    const v = await signIn(h.baseUrl, TOKEN);
    const res = await v.get('/environments/no-such-env');
    assert.equal(res.status, 404);
    assert.match(res.html, /No environment named “no-such-env”/);
    assert.match(res.html, /href="\/environments\/new\?name=no-such-env"/);
  });

  it('when the table is filtered by mine, template and status, then only matching environments are listed', async () => {
    const mine = uniqueName('mine');
    const theirs = uniqueName('theirs');
    assert.equal((await h.api('PUT', `/api/v1/environments/${mine}`, { template: 'shop' })).status, 202);
    assert.equal((await h.api('PUT', `/api/v1/environments/${theirs}`, { template: 'shop' }, { Authorization: 'Bearer other-secret-0123456789' })).status, 202);
    const v = await signIn(h.baseUrl, TOKEN);
    const all = await v.get('/');
    assert.match(all.html, new RegExp(`data-env="${mine}"`));
    assert.match(all.html, new RegExp(`data-env="${theirs}"`));
    const onlyMine = await v.get('/?mine=1&template=shop&status=queued');
    assert.match(onlyMine.html, new RegExp(`data-env="${mine}"`));
    assert.doesNotMatch(onlyMine.html, new RegExp(`data-env="${theirs}"`));
    assert.match(onlyMine.html, /<option value="queued" selected>/, 'the filter keeps its value');
    const ready = await v.get('/?status=ready');
    assert.doesNotMatch(ready.html, new RegExp(`data-env="${mine}"`), 'a queued environment is not ready');
  });

  it('when the live stream of a page is asked for without signing in, then it is refused; signed in, it streams the timeline', async () => {
    const name = uniqueName('live');
    assert.equal((await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop' })).status, 202);
    const anonymous = await fetch(`${h.baseUrl}/environments/${name}/live`, { headers: { accept: 'text/event-stream' } });
    assert.equal(anonymous.status, 401);
    await anonymous.body?.cancel();
    const v = await signIn(h.baseUrl, TOKEN);
    const live = await readEvents(`${h.baseUrl}/environments/${name}/live`, { cookie: v.cookie }, (m) => m.some((x) => x.event === 'environment') && m.some((x) => x.event === 'message'), 30_000);
    assert.equal(live.status, 200);
    assert.equal(JSON.parse(live.messages.find((m) => m.event === 'message')!.data).type, 'requested');
    assert.equal(JSON.parse(live.messages.find((m) => m.event === 'environment')!.data).status, 'queued');
  });

  it('when a proxy header comes from an address that is not trusted, then it is ignored', async () => {
    const res = await visitor(h.baseUrl).get('/', { 'x-forwarded-user': 'mallory' });
    assert.equal(res.status, 303);
  });
});

describe('web sign-in behind a trusted proxy', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ worker: false, env: { MAYFLY_TRUSTED_PROXIES: '10.0.0.0/8, 127.0.0.1', MAYFLY_PROXY_USER_HEADERS: 'x-auth-email' } });
  });
  after(async () => { await h.close(); });

  it('when the trusted proxy sends the configured header, then that person is signed in without a token; other headers are not believed', async () => {
    const res = await visitor(h.baseUrl).get('/', { 'x-auth-email': 'qa.person@example.com' });
    assert.equal(res.status, 200);
    assert.match(res.html, /Signed in as <strong>qa.person@example.com<\/strong>/);
    assert.equal((await visitor(h.baseUrl).get('/', { 'x-forwarded-user': 'mallory' })).status, 303, 'only the configured header counts');
  });
});

describe('events and logs over the API, streamed', () => {
  let h: Harness;
  // The machine is shared: health may take long when it is busy; this file tests streams, not speed.
  before(async () => { h = await startHarness({ env: { MAYFLY_SSE_HEARTBEAT: '1s', MAYFLY_HEALTH_TIMEOUT: '5m' } }); });
  after(async () => { await h.close(); });

  it('when a client asks for text/event-stream, then it gets past and new events with ids, heartbeats, a resume from Last-Event-ID, logs, and an end after destroy', async (t) => {
    const name = uniqueName('sse');
    const created = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop', tag: 'pr-1', ttl: '1h' });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const url = `${h.baseUrl}/api/v1/environments/${name}/events`;

    // JSON stays the default.
    const json = await h.api('GET', `/api/v1/environments/${name}/events`);
    assert.equal(json.status, 200);
    assert.equal(json.body.events[0].type, 'requested');

    const live = await readEvents(url, AUTH, (m, comments) => m.some((x) => ['ready', 'failed'].includes(JSON.parse(x.data).type)) && comments >= 1, 480_000);
    assert.equal(live.status, 200);
    assert.match(live.contentType, /^text\/event-stream/);
    const events = live.messages.map((m) => JSON.parse(m.data) as { id: number; type: string; message: string });
    assert.equal(events[0]!.type, 'requested', 'past events come first');
    assert.ok(events.some((e) => e.type === 'ready'), events.map((e) => `${e.type}: ${e.message}`).join('\n'));
    for (const m of live.messages) assert.equal(Number(m.id), JSON.parse(m.data).id, 'the id: line is the event id');
    assert.ok(events.every((e, i) => i === 0 || e.id > events[i - 1]!.id), 'ids increase');
    assert.ok(live.comments >= 1, 'a heartbeat comment arrives while idle');
    t.diagnostic(`${events.length} events before ready`);

    const resumeFrom = events[1]!.id;
    const resumed = await readEvents(url, { ...AUTH, 'last-event-id': String(resumeFrom) }, (m) => m.length >= 1, 30_000);
    assert.equal(Number(resumed.messages[0]!.id), events[2]!.id, 'a resumed stream starts after Last-Event-ID');

    // Logs of the entry service, as text, from the worker.
    const logs = await fetch(`${h.baseUrl}/api/v1/environments/${name}/logs?service=web&tail=20`, { headers: AUTH });
    assert.equal(logs.status, 200);
    assert.match(logs.headers.get('content-type') ?? '', /^text\/plain/);
    assert.ok((await logs.text()).length > 0, 'the web service wrote something');
    const badService = await h.api('GET', `/api/v1/environments/${name}/logs?service=nope`);
    assert.equal(badService.status, 400);
    assert.equal(badService.body.error.details[0].field, 'service');

    // A followed log, and the event stream, both end once the environment is destroyed.
    const followed = fetch(`${h.baseUrl}/api/v1/environments/${name}/logs?service=db&tail=5&follow=true`, { headers: AUTH }).then(async (r) => ({ status: r.status, text: await r.text() }));
    const ending = readEvents(url, { ...AUTH, 'last-event-id': String(events.at(-1)!.id) }, () => false, 120_000);
    await new Promise((r) => setTimeout(r, 500));
    const del = await h.api('DELETE', `/api/v1/environments/${name}`);
    assert.equal(del.status, 202);
    const end = await ending;
    assert.ok(end.ended, 'the stream ended by itself');
    assert.equal(end.messages.at(-1)!.event, 'end');
    assert.equal(JSON.parse(end.messages.at(-1)!.data).status, 'destroyed');
    assert.ok(end.messages.some((m) => m.event === 'message' && JSON.parse(m.data).type === 'destroyed'), 'the destroyed event is sent before the end');
    const f = await followed;
    assert.equal(f.status, 200);
    assert.ok(f.text.length > 0, 'the followed log had the tail');
    await waitUntil('destroyed', 60_000, async () => (await h.api('GET', `/api/v1/environments/${name}`)).body.status === 'destroyed');
  });

  it('when the internal endpoint of the worker is asked without the shared secret, then it refuses; with it, it answers', async () => {
    const internal = await startInternalServer(h.ctx, { port: 0, secret: h.internalSecret });
    try {
      const path = `/internal/environments/${randomUUID()}/services`;
      assert.equal((await fetch(`${internal.url}${path}`)).status, 401);
      assert.equal((await fetch(`${internal.url}${path}`, { headers: { [INTERNAL_SECRET_HEADER]: 'wrong-secret-0123456789' } })).status, 401);
      const known = await fetch(`${internal.url}${path}`, { headers: { [INTERNAL_SECRET_HEADER]: h.internalSecret } });
      assert.equal(known.status, 404, 'the secret is right; the environment does not exist');
      assert.match(internal.url, /^http:\/\/127\.0\.0\.1:\d+$/, 'loopback only');
    } finally {
      await internal.close();
    }
  });
});
