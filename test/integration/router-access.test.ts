/**
 * Who can open an environment's address through the router, over HTTP as curl sends it (fetch
 * with manual redirects): the sign-in handshake, access per environment, share links, bearer
 * tokens, WebSockets, the failure page's details and the bind address. The environments are
 * recorded as the worker would record them, with a local upstream as their app (no containers).
 */
import { after, before, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import { loadConfig } from '../../core/config/config.js';
import { createLogger } from '../../core/platform/log.js';
import { previewAccessOf } from '../../core/app/previews.js';
import type { Access, Environment } from '../../core/domain/environment.js';
import { principalFor } from '../../core/domain/principal.js';
import { EnvironmentRouter } from '../../api/router/router.js';
import { SpentTicketStore } from '../../core/store/spent-tickets.js';
import { startHarness, uniqueName, type Harness } from '../helpers/harness.js';
import { signIn, visitor } from '../helpers/web.js';

const TOKENS = { test: 'test-secret-0123456789', mate: 'mate-secret-0123456789', other: 'other-secret-0123456789', root: 'root-secret-0123456789' };
const bearer = (who: keyof typeof TOKENS) => ({ authorization: `Bearer ${TOKENS[who]}` });

/** One request through the router, nothing followed (curl without -L). */
async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers, redirect: 'manual' });
  return { status: res.status, headers: res.headers, text: await res.text(), location: res.headers.get('location') ?? '' };
}

/** The router's cookie from a Set-Cookie answer, as `name=value`. */
function previewCookie(headers: Headers): string | undefined {
  return headers.getSetCookie().find((c) => c.startsWith('mayfly_preview='))?.split(';')[0];
}

/** Asks for a WebSocket through the router; the status line of its answer. */
async function upgrade(port: number, host: string, headers: Record<string, string> = {}): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.write(`GET /ws HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`);
  return await new Promise((resolve, reject) => {
    let buf = '';
    socket.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      if (buf.includes('\r\n')) { socket.destroy(); resolve(buf.slice(0, buf.indexOf('\r\n'))); }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(buf.split('\r\n')[0] ?? ''));
  });
}

/** An environment of team qa (made by `test`), recorded ready with a local upstream as its app (no containers). */
async function recordReady(h: Harness, upstream: Server, access?: Access, name = uniqueName('ax')): Promise<Environment> {
  const { env } = await h.ctx.environments.recordDeploy(principalFor(h.config.teams, 'test', 'token'), { name, template: 'shop', owner: 'test', images: {}, seed: null, ttlSeconds: 3600, ...(access ? { access } : {}) }, { ttlGiven: true });
  await h.store.transition(env.id, 'provisioning', { event: { type: 'provisioning', message: 'test' } });
  return (await h.store.transition(env.id, 'ready', {
    set: { endpoints: { web: `127.0.0.1:${(upstream.address() as AddressInfo).port}` }, ready_at: new Date() },
    event: { type: 'ready', message: 'test' },
  }))!;
}

describe('who can open an environment through the router', () => {
  let h: Harness;
  const seen: { url: string; headers: IncomingMessage['headers'] }[] = [];
  const upstream: Server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`the app at ${req.url}`);
  });
  upstream.on('upgrade', (req, socket) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC11B65`).digest('base64');
    socket.end(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  });

  before(async () => {
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    h = await startHarness({
      worker: false,
      env: {
        MAYFLY_API_TOKENS: Object.entries(TOKENS).map(([n, s]) => `${n}:${s}`).join(','),
        MAYFLY_TEAMS: 'qa=test,mate;platform=other',
        MAYFLY_ADMINS: 'root',
      },
    });
  });
  after(async () => {
    await h?.close();
    upstream.close();
  });

  const address = (name: string) => `http://${name}.localhost:${h.routerPort}`;

  const readyEnv = (access?: Access, name?: string) => recordReady(h, upstream, access, name);

  /** The handshake as a browser does it, for a person signed in on the web app with `token`. */
  async function handshake(name: string, path: string, token: string) {
    const first = await get(`${address(name)}${path}`);
    assert.equal(first.status, 302, first.text);
    const person = await signIn(h.baseUrl, token);
    const authorize = await person.get(first.location.slice(h.baseUrl.length));
    return { first, authorize };
  }

  it('when nobody signed in asks for a private environment, then it is sent to sign in on the web app and comes back to the same path', async () => {
    const env = await readyEnv();
    const first = await get(`${address(env.name)}/cart?item=3`);
    assert.equal(first.status, 302);
    assert.equal(first.location, `${h.baseUrl}/router/authorize?env=${env.name}&return=${encodeURIComponent('/cart?item=3')}`);
    assert.equal(previewCookie(first.headers), undefined);
    assert.ok(!seen.some((s) => s.url === '/cart?item=3'), 'the app saw nothing');
    // Not signed in on the web app either: its sign-in page, which comes back to the handshake.
    const anonymous = await visitor(h.baseUrl).get(first.location.slice(h.baseUrl.length));
    assert.equal(anonymous.status, 303);
    assert.equal(anonymous.headers.get('location'), `/sign-in?next=${encodeURIComponent(first.location.slice(h.baseUrl.length))}`);
    // Signing in from there comes back to the handshake; at the end of that form submission (our
    // own page, same origin) the browser is sent on by a page, as the pages' CSP blocks a redirect.
    const person = await signIn(h.baseUrl, TOKENS.test);
    const afterForm = await person.get(first.location.slice(h.baseUrl.length), { 'sec-fetch-site': 'same-origin' });
    assert.equal(afterForm.status, 200);
    const onward = /<meta http-equiv="refresh" content="0;url=([^"]+)">/.exec(afterForm.html)?.[1]?.replaceAll('&amp;', '&');
    assert.ok(onward?.startsWith(`${address(env.name)}/.mayfly/callback?ticket=`), afterForm.html);
    const landed = await get(onward!);
    assert.equal(landed.status, 303);
    assert.equal(landed.location, '/cart?item=3');
    // A POST is not redirected (its body would be lost): 401 with a page that says how to get in.
    const post = await fetch(`${address(env.name)}/api/orders`, { method: 'POST', body: 'x', redirect: 'manual' });
    assert.equal(post.status, 401);
    assert.match(await post.text(), /Sign in to open/);
  });

  it('when a signed-in person goes through the handshake, then the router sets its own host cookie and the app answers; the ticket works once', async () => {
    const env = await readyEnv();
    const { authorize } = await handshake(env.name, '/cart?item=3', TOKENS.test);
    assert.equal(authorize.status, 303, authorize.html);
    const callback = authorize.headers.get('location')!;
    assert.ok(callback.startsWith(`${address(env.name)}/.mayfly/callback?ticket=`), callback);
    const back = await get(callback);
    assert.equal(back.status, 303, back.text);
    assert.equal(back.location, '/cart?item=3');
    const setCookie = back.headers.getSetCookie().find((c) => c.startsWith('mayfly_preview='))!;
    assert.match(setCookie, /; Path=\/; HttpOnly; SameSite=Lax; Max-Age=\d+$/);
    assert.doesNotMatch(setCookie, /Domain=/i, 'scoped to this host only');
    const cookie = previewCookie(back.headers)!;
    const app = await get(`${address(env.name)}/cart?item=3`, { cookie: `${cookie}; app_cookie=kept` });
    assert.equal(app.status, 200);
    assert.equal(app.text, 'the app at /cart?item=3');
    assert.equal(seen.at(-1)!.headers.cookie, 'app_cookie=kept', "the app gets its own cookies, never the router's");

    // The same ticket again: refused with a clear page, and no cookie.
    const replay = await get(callback);
    assert.equal(replay.status, 403);
    assert.match(replay.text, /used already/);
    assert.equal(previewCookie(replay.headers), undefined);
    // The cookie opens only the host (and environment) it was made for.
    const other = await readyEnv();
    assert.equal((await get(`${address(other.name)}/`, { cookie })).status, 302);
  });

  it('when a ticket redeemed at one web process is replayed at another, then the second refuses it (spent tickets are shared in PostgreSQL)', async () => {
    const env = await readyEnv();
    const { authorize } = await handshake(env.name, '/', TOKENS.test);
    const callback = new URL(authorize.headers.get('location')!);
    // A second web process's router (its own memory, the same database), as behind a load balancer.
    const second = new EnvironmentRouter({ config: h.config, store: h.store, queues: h.queues, catalog: h.ctx.catalog, logger: createLogger('silent', 'mayfly-test'), spentTickets: new SpentTicketStore(h.pool) });
    const server = createServer();
    second.attach(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      assert.equal((await get(callback.toString())).status, 303, 'the first web process takes the ticket');
      callback.port = String((server.address() as AddressInfo).port);
      const replay = await get(callback.toString());
      assert.equal(replay.status, 403, replay.text);
      assert.match(replay.text, /used already/);
      assert.equal(previewCookie(replay.headers), undefined);
    } finally {
      server.closeAllConnections();
      server.close();
      await second.close().catch(() => undefined);
    }
  });

  it('when a ticket is forged, tampered, for another environment or expired, then it is refused with a page saying why, and no cookie is set', async () => {
    const env = await readyEnv();
    const other = await readyEnv();
    const { authorize } = await handshake(env.name, '/', TOKENS.test);
    const ticket = new URL(authorize.headers.get('location')!).searchParams.get('ticket')!;
    const previews = previewAccessOf(h.config, h.ctx.catalog);
    const past = Date.now() - 120_000;
    mock.timers.enable({ apis: ['Date'], now: past });
    let expired: string;
    try {
      expired = previews.ticket(principalFor(h.config.teams, 'test', 'user'), 'session', env, '/');
    } finally {
      mock.timers.reset();
    }
    const cases: [string, string, RegExp][] = [
      ['forged', `${address(env.name)}/.mayfly/callback?ticket=${randomBytes(20).toString('base64url')}.${randomBytes(32).toString('base64url')}`, /signature does not match/],
      ['tampered', `${address(env.name)}/.mayfly/callback?ticket=${ticket.slice(0, 8)}${ticket[8] === 'x' ? 'y' : 'x'}${ticket.slice(9)}`, /signature does not match|malformed/],
      ['another environment', `${address(other.name)}/.mayfly/callback?ticket=${ticket}`, new RegExp(`made for another environment \\(&quot;${env.name}&quot;\\)`)],
      ['expired', `${address(env.name)}/.mayfly/callback?ticket=${expired}`, /expired/],
      ['missing', `${address(env.name)}/.mayfly/callback`, /malformed/],
    ];
    for (const [what, url, why] of cases) {
      const r = await get(url);
      assert.equal(r.status, 403, what);
      assert.match(r.text, /This sign-in link does not open/, what);
      assert.match(r.text, why, what);
      assert.match(r.text, /Nothing was changed/, what);
      assert.equal(previewCookie(r.headers), undefined, what);
    }
    // The genuine ticket still works after all that (it was refused on another host, not spent).
    assert.equal((await get(`${address(env.name)}/.mayfly/callback?ticket=${ticket}`)).status, 303);
  });

  it('when the handshake is asked to return to another site, then it is refused naming the field', async () => {
    const env = await readyEnv();
    const person = await signIn(h.baseUrl, TOKENS.test);
    for (const bad of ['https://evil.example/', '//evil.example/x', '/\\evil.example']) {
      const r = await person.get(`/router/authorize?env=${env.name}&return=${encodeURIComponent(bad)}`, { accept: 'application/json' });
      assert.equal(r.status, 400, bad);
      assert.match(r.html, /"field":"return"/, bad);
      assert.equal(r.headers.get('location'), null, bad);
    }
  });

  it('when an environment is open to its team, then its owner, a team mate and an admin get in, another team does not (nor by the handshake)', async () => {
    const env = await readyEnv('team');
    for (const who of ['test', 'mate', 'root'] as const) {
      const r = await get(`${address(env.name)}/`, bearer(who));
      assert.equal(r.status, 200, `${who}: ${r.text}`);
    }
    const refused = await get(`${address(env.name)}/`, bearer('other'));
    assert.equal(refused.status, 403);
    assert.match(refused.text, /You may not open/);
    const { authorize } = await handshake(env.name, '/', TOKENS.other);
    assert.equal(authorize.status, 403);
    assert.match(authorize.html, /belongs to team &quot;qa&quot;; other \(team &quot;platform&quot;\) may not open it|belongs to team "qa"; other \(team "platform"\) may not open it/);
    // Its mate through the handshake: in.
    const mate = await handshake(env.name, '/', TOKENS.mate);
    assert.equal(mate.authorize.status, 303);
    const cookie = previewCookie((await get(mate.authorize.headers.get('location')!)).headers)!;
    assert.equal((await get(`${address(env.name)}/`, { cookie })).status, 200);
  });

  it('when an environment is public, then anyone gets in without signing in', async () => {
    const env = await readyEnv('public');
    const r = await get(`${address(env.name)}/hello`);
    assert.equal(r.status, 200);
    assert.equal(r.text, 'the app at /hello');
  });

  it('when access is given in the PUT body, then it is recorded and shown; a wrong value is refused naming the field and creates nothing', async () => {
    const name = uniqueName('put');
    const created = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop', access: 'team' });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    assert.equal(created.body.access, 'team');
    assert.equal((await h.store.getByName(name))!.access, 'team');
    const changed = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop', access: 'public' });
    assert.equal(changed.status, 200);
    assert.equal(changed.body.action, 'unchanged', 'a new access setting is no redeploy');
    assert.equal(changed.body.access, 'public');
    const events = (await h.api('GET', `/api/v1/environments/${name}/events`)).body.events.map((e: { type: string }) => e.type);
    assert.ok(events.includes('access'), `the timeline says who changed it: ${events}`);
    const plain = await h.api('PUT', `/api/v1/environments/${uniqueName('put')}`, { template: 'shop' });
    assert.equal(plain.body.access, 'signed-in', "the template's default");
    const wrong = uniqueName('put');
    const bad = await h.api('PUT', `/api/v1/environments/${wrong}`, { template: 'shop', access: 'everyone' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details[0].field, 'access');
    assert.equal((await h.api('GET', `/api/v1/environments/${wrong}`)).status, 404);
  });

  it('when the team makes a share link, then someone without an account opens that environment; tampered, expired, other and recreated links are refused', async () => {
    const env = await readyEnv('team');
    const refusedShare = await h.api('POST', `/api/v1/environments/${env.name}/share`, { ttl: '1h' }, bearer('other'));
    assert.equal(refusedShare.status, 403, 'another team may not share it');
    const badTtl = await h.api('POST', `/api/v1/environments/${env.name}/share`, { ttl: '30d' }, bearer('test'));
    assert.equal(badTtl.status, 400);
    assert.equal(badTtl.body.error.details[0].field, 'ttl');
    const shared = await h.api('POST', `/api/v1/environments/${env.name}/share`, { ttl: '1h' }, bearer('test'));
    assert.equal(shared.status, 201, JSON.stringify(shared.body));
    const url: string = shared.body.url;
    assert.ok(url.startsWith(`${address(env.name)}/.mayfly/share?token=`), url);

    const opened = await get(url);
    assert.equal(opened.status, 303, opened.text);
    assert.equal(opened.location, '/');
    const cookie = previewCookie(opened.headers)!;
    const app = await get(`${address(env.name)}/`, { cookie });
    assert.equal(app.status, 200);
    assert.equal(app.text, 'the app at /');
    assert.equal((await get(`${address(env.name)}/`, { cookie, ...bearer('other') })).status, 200, 'the link opens it for anyone who has it');

    const token = new URL(url).searchParams.get('token')!;
    const previews = previewAccessOf(h.config, h.ctx.catalog);
    mock.timers.enable({ apis: ['Date'], now: Date.now() - 7_200_000 });
    let pending: Promise<{ token: string }>;
    try {
      pending = previews.share(principalFor(h.config.teams, 'test', 'token'), env, '1h'); // made at once, an hour past its end
    } finally {
      mock.timers.reset();
    }
    const stale = (await pending).token;
    const other = await readyEnv('team');
    const cases: [string, string, RegExp][] = [
      ['tampered', `${address(env.name)}/.mayfly/share?token=${token.slice(0, 6)}${token[6] === 'x' ? 'y' : 'x'}${token.slice(7)}`, /signature does not match|malformed/],
      ['expired', `${address(env.name)}/.mayfly/share?token=${stale}`, /expired at/],
      ['another environment', `${address(other.name)}/.mayfly/share?token=${token}`, /made for another environment/],
    ];
    for (const [what, link, why] of cases) {
      const r = await get(link);
      assert.equal(r.status, 403, what);
      assert.match(r.text, /This share link does not open/, what);
      assert.match(r.text, why, what);
      assert.equal(previewCookie(r.headers), undefined, what);
    }
    assert.equal((await get(`${address(other.name)}/`, { cookie })).status, 302, "the share cookie opens no other environment");

    // Destroyed and made again under the same name: a new id, so the old link and cookie open nothing.
    await h.store.transition(env.id, 'destroying', { event: { type: 'destroying', message: 'test' } });
    await h.store.transition(env.id, 'destroyed', { set: { destroy_reason: 'destroyed', destroyed_by: 'test' }, event: { type: 'destroyed', message: 'test' } });
    const again = await readyEnv('team', env.name);
    assert.notEqual(again.id, env.id);
    await new Promise((r) => setTimeout(r, 1100)); // past the router's one-second lookup cache
    const recreated = await get(url);
    assert.equal(recreated.status, 403);
    assert.match(recreated.text, /earlier environment named/);
    assert.equal((await get(`${address(env.name)}/`, { cookie })).status, 302);
  });

  it('when the share button of the environment\'s page is pressed, then the page shows the link; without the form token, or by another team, nothing is made', async () => {
    const env = await readyEnv('team');
    const person = await signIn(h.baseUrl, TOKENS.test);
    const csrf = await person.csrf(`/environments/${env.name}`);
    assert.equal((await person.post(`/environments/${env.name}/share`, { ttl: '1h' })).status, 403, 'no CSRF token');
    const made = await person.post(`/environments/${env.name}/share`, { _csrf: csrf, ttl: '1h' });
    assert.equal(made.status, 303);
    assert.equal(made.headers.get('location'), `/environments/${env.name}`);
    // The message comes in the flash cookie, as a browser would keep it.
    const flash = (made: { headers: Headers }) => made.headers.getSetCookie().find((c) => c.startsWith('mayfly_flash='))!.split(';')[0]!;
    const page = await person.get(`/environments/${env.name}`, { cookie: `${person.cookie}; ${flash(made)}` });
    const link = new RegExp(`Share link for ${env.name}, works until [^ ]+ for anyone who has it: (${address(env.name).replace(/[.]/g, '\\.')}/\\.mayfly/share\\?token=[\\w.-]+)`).exec(page.html.replaceAll('&#x3D;', '=')); // the page's text, as a browser reads it
    assert.ok(link, `the page shows the link: ${/<p class="flash[^]*?<\/p>/.exec(page.html)?.[0] ?? page.html.slice(0, 3000)}`);
    assert.equal((await get(link[1]!)).status, 303, 'and it works');
    const stranger = await signIn(h.baseUrl, TOKENS.other);
    const refused = await stranger.post(`/environments/${env.name}/share`, { _csrf: await stranger.csrf(`/environments/${env.name}`), ttl: '1h' });
    assert.equal(refused.status, 303);
    const says = await stranger.get(`/environments/${env.name}`, { cookie: `${stranger.cookie}; ${flash(refused)}` });
    assert.match(says.html, /belongs to team &quot;qa&quot;; other \(team &quot;platform&quot;\) may not share it/);
    assert.doesNotMatch(says.html, /\.mayfly\/share\?token=/);
  });

  it('when CI sends a Mayfly API token, then it gets in and the app never sees the token; a wrong token gets 401, not a redirect', async () => {
    const env = await readyEnv();
    const r = await get(`${address(env.name)}/ci`, bearer('test'));
    assert.equal(r.status, 200);
    assert.equal(seen.at(-1)!.headers.authorization, undefined, 'the Mayfly token is not passed on');
    const wrong = await get(`${address(env.name)}/ci`, { authorization: 'Bearer not-a-mayfly-token-0123' });
    assert.equal(wrong.status, 401);
    assert.match(wrong.text, /not one of Mayfly's API tokens/);
    // A public app with its own bearer tokens still gets them.
    const open = await readyEnv('public');
    assert.equal((await get(`${address(open.name)}/own`, { authorization: 'Bearer the-apps-own-token' })).status, 200);
    assert.equal(seen.at(-1)!.headers.authorization, 'Bearer the-apps-own-token');
  });

  it('when a WebSocket is opened, then it is let in with the router cookie or a token, and refused without', async () => {
    const env = await readyEnv();
    const host = `${env.name}.localhost:${h.routerPort}`;
    assert.match(await upgrade(h.routerPort, host), / 401 /);
    assert.match(await upgrade(h.routerPort, host, { cookie: 'mayfly_preview=forged.value' }), / 401 /);
    assert.match(await upgrade(h.routerPort, host, bearer('test')), / 101 /);
    const { authorize } = await handshake(env.name, '/', TOKENS.mate);
    const cookie = previewCookie((await get(authorize.headers.get('location')!)).headers)!;
    assert.match(await upgrade(h.routerPort, host, { cookie }), / 101 /);
    assert.equal(seen.at(-1)!.headers.cookie, undefined, "the app's upgrade request carries no router cookie");
    const team = await readyEnv('team');
    assert.match(await upgrade(h.routerPort, `${team.name}.localhost:${h.routerPort}`, bearer('other')), / 403 /);
  });

  it('when an environment failed, then its team sees the failure and the timeline link; another team and anonymous visitors do not', async () => {
    const failed = async (access: Access) => {
      const { env } = await h.ctx.environments.recordDeploy(principalFor(h.config.teams, 'test', 'token'), { name: uniqueName('fx'), template: 'shop', owner: 'test', images: {}, seed: null, ttlSeconds: 3600, access }, { ttlGiven: true });
      await h.store.transition(env.id, 'provisioning', { event: { type: 'provisioning', message: 'test' } });
      return (await h.store.transition(env.id, 'failed', { set: { failure_code: 'IMAGE_NOT_FOUND', failure_message: 'image r/shop:nope does not exist' }, event: { type: 'failed', message: 'test' } }))!;
    };
    const env = await failed('team');
    const owner = await get(`${address(env.name)}/`, bearer('test'));
    assert.equal(owner.status, 502);
    assert.match(owner.text, /IMAGE_NOT_FOUND/);
    assert.match(owner.text, /r\/shop:nope does not exist/);
    assert.ok(owner.text.includes(`/api/v1/environments/${env.name}/events`));
    const stranger = await get(`${address(env.name)}/`, bearer('other'));
    assert.equal(stranger.status, 403);
    for (const secret of ['IMAGE_NOT_FOUND', 'does not exist', '/events']) assert.ok(!stranger.text.includes(secret), secret);
    assert.equal((await get(`${address(env.name)}/`)).status, 302, 'anonymous: sign in first');
    // Public: anyone reaches it, but the details are for people signed in.
    const open = await failed('public');
    const anonymous = await get(`${address(open.name)}/`);
    assert.equal(anonymous.status, 502);
    assert.match(anonymous.text, /is not available/);
    for (const secret of ['IMAGE_NOT_FOUND', 'does not exist', '/events']) assert.ok(!anonymous.text.includes(secret), secret);
    assert.match((await get(`${address(open.name)}/`, bearer('other'))).text, /IMAGE_NOT_FOUND/);
  });
});

describe('the router\'s bind address', () => {
  /** A non-loopback IPv4 address of this machine, when it has one. */
  const external = Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  const connects = (host: string, port: number) => new Promise<boolean>((resolve) => {
    const s = net.connect(port, host);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });

  async function listening(env: Record<string, string>): Promise<{ address: AddressInfo; close: () => Promise<void> }> {
    const config = loadConfig({ DATABASE_URL: 'postgres://unused@127.0.0.1:1/unused', MAYFLY_ROUTER_PORT: '0', ...env });
    const logger = createLogger('silent', 'mayfly-test');
    const router = new EnvironmentRouter({ config, logger, store: {} as never, queues: {} as never, catalog: {} as never });
    const server = createServer();
    router.attach(server);
    await router.listen(server);
    return { address: server.address() as AddressInfo, close: async () => { server.close(); await router.close().catch(() => undefined); } };
  }

  it('when MAYFLY_ROUTER_BIND is unset, then the router listens on 127.0.0.1 only', async () => {
    const r = await listening({});
    try {
      assert.equal(r.address.address, '127.0.0.1');
      assert.equal(await connects('127.0.0.1', r.address.port), true);
      if (external) assert.equal(await connects(external, r.address.port), false, `not reachable at ${external}`);
    } finally {
      await r.close();
    }
  });

  it('when MAYFLY_ROUTER_BIND is 0.0.0.0, then it listens on every interface', async () => {
    const r = await listening({ MAYFLY_ROUTER_BIND: '0.0.0.0' });
    try {
      assert.equal(r.address.address, '0.0.0.0');
      if (external) assert.equal(await connects(external, r.address.port), true, `reachable at ${external}`);
    } finally {
      await r.close();
    }
  });
});

describe('wrong tokens at the router', () => {
  let h: Harness;
  const seen: string[] = [];
  const upstream: Server = createServer((req, res) => { seen.push(req.url ?? ''); res.end('the app'); });
  before(async () => {
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    h = await startHarness({
      worker: false,
      env: { MAYFLY_API_TOKENS: `test:${TOKENS.test}`, MAYFLY_TEAMS: 'qa=test', MAYFLY_AUTH_FAILURES_PER_MINUTE: '3' },
    });
  });
  after(async () => {
    await h?.close();
    upstream.close();
  });

  it('when an address sends more wrong tokens than MAYFLY_AUTH_FAILURES_PER_MINUTE, then even a right token gets 429 with Retry-After, the app sees nothing, and the API counts the same failures', async () => {
    const env = await recordReady(h, upstream);
    const url = `http://${env.name}.localhost:${h.routerPort}`;
    for (let i = 0; i < 3; i++) assert.equal((await get(`${url}/guess-${i}`, { authorization: `Bearer wrong-token-${i}-0123456789` })).status, 401);
    const blocked = await get(`${url}/with-the-right-token`, bearer('test'));
    assert.equal(blocked.status, 429, blocked.text);
    assert.ok(Number(blocked.headers.get('retry-after')) > 0, 'Retry-After says when to try again');
    assert.match(blocked.text, /too many wrong tokens/i);
    assert.deepEqual(seen, [], 'no request reached the app');
    // One count per address for every door that takes a token: the REST API refuses it too.
    const api = await h.api('GET', '/api/v1/environments');
    assert.equal(api.status, 429);
    // A public environment is still open, and a token of the app's own still reaches the app.
    const open = await recordReady(h, upstream, 'public');
    const own = await get(`http://${open.name}.localhost:${h.routerPort}/own`, { authorization: 'Bearer the-apps-own-token' });
    assert.equal(own.status, 200);
    assert.deepEqual(seen, ['/own']);
  });
});
