import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { projectRoot } from '../../core/config/config.js';
import { startHarness, labeledObjects, dataVolumes, uniqueName, waitUntil, type Harness, TEST_ACTOR, AUTH } from '../helpers/harness.js';

/** Idle time after which the `sleepy` fixture template sleeps. */
const SLEEP_AFTER_S = 8;

/** A client WebSocket frame (clients must mask). */
function clientFrame(opcode: number, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len]) : Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 255]);
  return Buffer.concat([head, mask, masked]);
}

/**
 * Opens a WebSocket through the router with `host` as Host, sends `messages`, and collects the
 * echoes. Previews are private: it is let in with the test's API token (`extra` headers).
 */
async function wsEcho(port: number, host: string, messages: string[], extra: Record<string, string> = AUTH): Promise<{ status: string; echoes: string[] }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  const key = randomBytes(16).toString('base64');
  const headers = Object.entries(extra).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.write(`GET /ws/echo HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${headers}\r\n`);
  let buf = Buffer.alloc(0);
  let status = '';
  const echoes: string[] = [];
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no echo within 20 s (status "${status}", echoes ${echoes.length})`)); }, 20_000);
    socket.on('error', (err) => { clearTimeout(timer); reject(err); });
    socket.on('close', () => { clearTimeout(timer); resolve({ status, echoes }); });
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!status) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        status = buf.subarray(0, buf.indexOf('\r\n')).toString();
        buf = buf.subarray(end + 4);
        if (!status.includes(' 101 ')) { socket.destroy(); return; }
        for (const m of messages) socket.write(clientFrame(0x1, Buffer.from(m)));
      }
      while (buf.length >= 2) {
        let len = buf[1]! & 0x7f;
        let off = 2;
        if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
        if (buf.length < off + len) return;
        echoes.push(buf.subarray(off, off + len).toString());
        buf = buf.subarray(off + len);
      }
      if (echoes.length >= messages.length) { socket.end(clientFrame(0x8, Buffer.from([0x03, 0xe8]))); socket.destroy(); }
    });
  });
}

/** Waits like waitUntil; on a timeout the error carries the environment's timeline (what it was doing). */
async function waitWithTimeline<T>(h: Harness, name: string, what: string, ms: number, probe: () => Promise<T | undefined | false>): Promise<T> {
  try {
    return await waitUntil(what, ms, probe);
  } catch (err) {
    const events = (await h.api('GET', `/api/v1/environments/${name}/events`)).body.events ?? [];
    throw new Error(`${(err as Error).message}; timeline: ${events.map((e: { type: string; message: string }) => `${e.type}: ${e.message}`).join(' | ').slice(-3000)}`);
  }
}

/** A GET through the router as curl would send it; previews are private, so with the test's API token. */
async function get(url: string, headers: Record<string, string> = AUTH) {
  const res = await fetch(url, { headers, redirect: 'manual' });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe('the router: environments at http://<name>.localhost:<port>, on the real engines', () => {
  let h: Harness;
  let templatesDir: string;
  before(async () => {
    // The shop template twice: as it is, and as `sleepy`, which sleeps after a few idle seconds.
    templatesDir = await mkdtemp(path.join(os.tmpdir(), 'mayfly-router-templates-'));
    await cp(path.join(projectRoot(), 'templates', 'shop'), path.join(templatesDir, 'shop'), { recursive: true });
    await cp(path.join(projectRoot(), 'templates', 'shop'), path.join(templatesDir, 'sleepy'), { recursive: true });
    const meta = await readFile(path.join(templatesDir, 'sleepy', 'template.yml'), 'utf8');
    await writeFile(path.join(templatesDir, 'sleepy', 'template.yml'), `${meta}\nsleep: { after: ${SLEEP_AFTER_S}s }\n`);
    h = await startHarness({ env: { MAYFLY_TEMPLATES_DIR: templatesDir, MAYFLY_ACTIVITY_FLUSH: '1s', MAYFLY_HEALTH_TIMEOUT: '4m' } });
  });
  after(async () => {
    await h?.close();
    await rm(templatesDir, { recursive: true, force: true });
  });

  it('when templates are listed then the sleepy one shows its sleep setting and shop none', async () => {
    const { body } = await h.api('GET', '/api/v1/templates');
    const byName = Object.fromEntries(body.templates.map((t: { name: string; sleep: unknown }) => [t.name, t.sleep]));
    assert.deepEqual(byName, { shop: null, sleepy: { after: `${SLEEP_AFTER_S}s` } });
  });

  it('when a host names no environment then a helpful 404 page says how to list them', async () => {
    const unknown = await get(`http://no-such-env-${randomBytes(3).toString('hex')}.localhost:${h.routerPort}/`);
    assert.equal(unknown.status, 404);
    assert.match(unknown.text, /No environment named/);
    assert.ok(unknown.text.includes(`${h.config.publicUrl}/api/v1/environments`), 'names the API to list environments');
    assert.ok(unknown.text.includes(`href="${h.config.publicUrl}/"`), 'links to the Mayfly pages');
    const ws = await wsEcho(h.routerPort, `no-such-env.localhost:${h.routerPort}`, ['hi']);
    assert.match(ws.status, / 404 /, 'a WebSocket to an unknown name is refused with 404');
    const bare = await get(`http://127.0.0.1:${h.routerPort}/`);
    assert.equal(bare.status, 404);
    assert.match(bare.text, /not an environment address/);
  });

  it('when an environment is starting then a refreshing 503 page; when ready then HTTP and a WebSocket echo reach the shop', async () => {
    const name = uniqueName('rt');
    const address = `http://${name}.localhost:${h.routerPort}`;
    const created = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop', tag: 'pr-1', ttl: '1h' });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const starting = await get(`${address}/`);
    assert.equal(starting.status, 503, starting.text);
    assert.match(starting.text, /is starting/);
    assert.match(starting.text, /<meta http-equiv="refresh" content="\d+">/);
    assert.ok(Number(starting.headers.get('retry-after')) > 0);

    const ready = await h.api('GET', `/api/v1/environments/${name}?wait=300`);
    assert.equal(ready.body.status, 'ready', JSON.stringify(ready.body.failure));
    assert.equal(ready.body.url, address, 'the API shows the router address');
    assert.deepEqual(ready.body.urls, { web: address });

    const products = await get(`${address}/api/products`);
    assert.equal(products.status, 200, products.text);
    assert.equal(JSON.parse(products.text).tag, 'pr-1');
    assert.equal(JSON.parse(products.text).products.length, 12);
    const home = await get(`${address}/`);
    assert.match(home.text, /data-testid="tag">pr-1</);

    const ws = await wsEcho(h.routerPort, `${name}.localhost:${h.routerPort}`, ['hello mayfly', 'x'.repeat(300)]);
    assert.match(ws.status, / 101 /);
    assert.deepEqual(ws.echoes, ['hello mayfly', 'x'.repeat(300)]);

    // Destroyed: the page says why.
    await h.api('DELETE', `/api/v1/environments/${name}?wait=120`);
    await waitUntil('the router to see it gone', 5000, async () => (await get(`${address}/`)).status === 410);
    const gone = await get(`${address}/`);
    assert.match(gone.text, /was destroyed/);
    assert.match(gone.text, /Reason: <strong>destroyed<\/strong> \(by test\)/);
  });

  it('when a sleepy environment idles then it sleeps with its data kept; a request wakes it with a waiting page, then serves it; traffic keeps it awake; its lease still ends', async (t) => {
    const name = uniqueName('sleepy');
    const address = `http://${name}.localhost:${h.routerPort}`;
    const ready = await h.api('PUT', `/api/v1/environments/${name}?wait=300`, { template: 'sleepy', ttl: '1h' });
    assert.equal(ready.body.status, 'ready', JSON.stringify(ready.body.failure));
    const id = ready.body.id;
    const ref = { id, project: (await h.store.getById(id))!.project, generation: 1 };
    // Data written now must survive the sleep.
    const insert = await h.runtime.exec(ref, 'db', ['psql', '-U', 'shop', '-d', 'shop', '-c', "INSERT INTO products (name, price_cents) VALUES ('kept while asleep', 4200)"]);
    assert.equal(insert.exitCode, 0, insert.output);
    const dataBefore = await dataVolumes(h.docker, id);
    assert.equal(dataBefore.length, 1, `one data volume (the database's): ${dataBefore}`);

    // Traffic is activity: requests every 700 ms for longer than the idle time keep it awake.
    const until = Date.now() + (SLEEP_AFTER_S + 3) * 1000;
    while (Date.now() < until) {
      assert.equal((await get(`${address}/healthz`)).status, 200);
      await new Promise((r) => setTimeout(r, 700));
    }
    assert.equal((await h.api('GET', `/api/v1/environments/${name}`)).body.status, 'ready', 'traffic kept it awake');

    // Idle: asleep, containers stopped, volume and network kept, address still shown.
    const sleepStarted = Date.now();
    await waitWithTimeline(h, name, 'the environment to sleep', 120_000, async () => (await h.store.getById(id))?.status === 'sleeping');
    await waitUntil('its containers to stop', 30_000, async () => {
      const cs = await h.docker.listContainers({ all: true, filters: { label: [`mayfly.env=${id}`] } });
      return cs.length === 2 && cs.every((c) => c.State !== 'running');
    });
    t.diagnostic(`idle to asleep: ${Date.now() - sleepStarted} ms after the last request`);
    await new Promise((r) => setTimeout(r, 2500)); // a few reconciler runs: the reaper must leave a sleeping environment alone
    const objects = await labeledObjects(h.docker, id);
    assert.equal(objects.containers, 2, 'stopped containers kept');
    assert.equal(objects.networks, 1, 'network kept');
    assert.deepEqual(await dataVolumes(h.docker, id), dataBefore, 'its data volume kept');
    const asleep = await h.api('GET', `/api/v1/environments/${name}`);
    assert.equal(asleep.body.status, 'sleeping');
    assert.equal(asleep.body.url, address, 'a sleeping environment keeps its address (it wakes on a request)');

    // A request wakes it: the waiting page, then the app with its data.
    const wakeStarted = Date.now();
    const waiting = await get(`${address}/api/products`);
    assert.equal(waiting.status, 503, waiting.text);
    assert.match(waiting.text, /waking up/);
    assert.match(waiting.text, /<meta http-equiv="refresh"/);
    assert.ok(Number(waiting.headers.get('retry-after')) > 0);
    const woke = await waitWithTimeline(h, name, 'the app to answer again', 240_000, async () => {
      const r = await get(`${address}/api/products`);
      return r.status === 200 ? JSON.parse(r.text) : undefined;
    });
    t.diagnostic(`wake (request to app answering): ${Date.now() - wakeStarted} ms`);
    assert.equal(woke.products.length, 13, 'the data written before the sleep is there');
    assert.ok(woke.products.some((p: { name: string }) => p.name === 'kept while asleep'));
    const events = (await h.api('GET', `/api/v1/environments/${name}/events`)).body.events.map((e: { type: string }) => e.type);
    for (const type of ['sleeping', 'slept', 'waking', 'woke']) assert.ok(events.includes(type), `timeline has ${type}: ${events}`);

    // Asleep again, its lease ends: it is torn down like any other (reason expired), nothing left.
    await waitWithTimeline(h, name, 'the environment to sleep again', 120_000, async () => (await h.store.getById(id))?.status === 'sleeping');
    const extended = await h.api('POST', `/api/v1/environments/${name}/extend`, { ttl: '1s' });
    assert.equal(extended.status, 200, JSON.stringify(extended.body));
    await waitWithTimeline(h, name, 'the sleeping environment to expire', 120_000, async () => (await h.store.getById(id))?.status === 'destroyed');
    const gone = await h.api('GET', `/api/v1/environments/${name}`);
    assert.equal(gone.body.destroyReason, 'expired');
    assert.deepEqual(await labeledObjects(h.docker, id), { containers: 0, networks: 0, volumes: 0 });
  });
});

describe('the router proxy, against a local upstream', () => {
  let h: Harness;
  const seen: { headers: IncomingMessage['headers']; body: string }[] = [];
  const upstream = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
      res.writeHead(201, { 'content-type': 'text/plain', 'x-upstream': 'yes', 'set-cookie': ['a=1', 'b=2'] });
      // Streamed: the answer comes in pieces.
      res.write('part one;');
      setTimeout(() => res.end('part two'), 50);
    });
  });
  before(async () => {
    h = await startHarness({ worker: false });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    await h?.close();
    upstream.close();
  });

  it('when a ready environment is requested then the body streams both ways, headers pass, and X-Forwarded-* are added', async () => {
    const name = uniqueName('px');
    const { env } = await h.ctx.environments.recordDeploy(TEST_ACTOR, { name, template: 'shop', owner: 'test', images: {}, seed: null, ttlSeconds: 3600 }, { ttlGiven: true });
    // Recorded as the worker would: provisioning, then ready with its internal target.
    await h.store.transition(env.id, 'provisioning', { event: { type: 'provisioning', message: 'test' } });
    await h.store.transition(env.id, 'ready', {
      set: { endpoints: { web: `127.0.0.1:${(upstream.address() as AddressInfo).port}` }, ready_at: new Date() },
      event: { type: 'ready', message: 'test' },
    });
    const res = await fetch(`http://${name}.localhost:${h.routerPort}/submit?x=1`, {
      method: 'POST', body: 'hello upstream', headers: { ...AUTH, 'x-forwarded-for': '203.0.113.9', 'content-type': 'text/plain' },
    });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('x-upstream'), 'yes');
    assert.deepEqual(res.headers.getSetCookie(), ['a=1', 'b=2']);
    assert.equal(await res.text(), 'part one;part two');
    const got = seen.at(-1)!;
    assert.equal(got.body, 'hello upstream');
    assert.equal(got.headers.host, `${name}.localhost:${h.routerPort}`, 'the app sees its public host');
    assert.equal(got.headers['x-forwarded-host'], `${name}.localhost:${h.routerPort}`);
    assert.equal(got.headers['x-forwarded-proto'], 'http');
    assert.equal(got.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');

    // Traffic is recorded (flushed to PostgreSQL).
    await h.router.activity.flush();
    assert.ok((await h.store.getById(env.id))!.lastActivityAt, 'last_activity_at is set');

    // The upstream goes away: a page, not a crash; the router keeps serving.
    const port = (upstream.address() as AddressInfo).port;
    await h.store.transition(env.id, 'queued', { bumpGeneration: true, event: { type: 'redeploy', message: 'test' } });
    await h.store.transition(env.id, 'provisioning', { event: { type: 'provisioning', message: 'test' } });
    const dead = net.createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const deadPort = (dead.address() as AddressInfo).port;
    await new Promise((r) => dead.close(r));
    await h.store.transition(env.id, 'ready', { set: { endpoints: { web: `127.0.0.1:${deadPort}` } }, event: { type: 'ready', message: 'test' } });
    await new Promise((r) => setTimeout(r, 1100)); // past the lookup cache
    const broken = await get(`http://${name}.localhost:${h.routerPort}/`);
    assert.equal(broken.status, 502);
    assert.match(broken.text, /did not answer/);
    assert.ok(port > 0);
  });

  it('when an environment failed then its page gives the failure code and message, escaped', async () => {
    const name = uniqueName('pf');
    const { env } = await h.ctx.environments.recordDeploy(TEST_ACTOR, { name, template: 'shop', owner: 'test', images: {}, seed: null, ttlSeconds: 3600 }, { ttlGiven: true });
    await h.store.transition(env.id, 'provisioning', { event: { type: 'provisioning', message: 'test' } });
    await h.store.transition(env.id, 'failed', {
      set: { failure_code: 'IMAGE_NOT_FOUND', failure_message: 'image r/shop:<b>nope</b> does not exist' },
      event: { type: 'failed', message: 'test' },
    });
    const page = await get(`http://${name}.localhost:${h.routerPort}/`);
    assert.equal(page.status, 502);
    assert.match(page.text, /IMAGE_NOT_FOUND/);
    assert.ok(page.text.includes('r/shop:&lt;b&gt;nope&lt;/b&gt; does not exist'), page.text);
    assert.ok(page.text.includes(`${h.config.publicUrl}/api/v1/environments/${name}/events`), 'links to its timeline');
  });
});
