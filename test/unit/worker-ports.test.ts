import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { loadConfig } from '../../core/config/config.js';
import { ENDPOINT_TTL_MS, WorkerEndpoints, type EndpointHash } from '../../core/platform/internal-api.js';
import { listenWithFallback } from '../../worker/listen.js';

function listenOn(port: number): Promise<Server> {
  const server = createServer();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
const portOf = (s: Server) => (s.address() as AddressInfo).port;
const close = (s: Server) => new Promise((resolve) => s.close(resolve));

/** Two consecutive free ports, both held (the caller closes them). */
async function heldPair(): Promise<[Server, Server]> {
  for (;;) {
    const first = await listenOn(0);
    const second = await listenOn(portOf(first) + 1).catch(() => undefined);
    if (second) return [first, second];
    await close(first);
  }
}

describe('worker ports: several workers on one host', () => {
  it('when the default port is taken, then the next free one is taken', async () => {
    const [a, b] = await heldPair();
    const got = await listenWithFallback(portOf(a), true, listenOn);
    try {
      // The default and the one after it are held: one of the next ports after them (not a random one).
      assert.ok(portOf(got) > portOf(b) && portOf(got) <= portOf(a) + 10, `${portOf(got)} after ${portOf(a)}, ${portOf(b)}`);
    } finally {
      await Promise.all([close(a), close(b), close(got)]);
    }
  });

  it('when a port the operator chose is taken, then it fails with EADDRINUSE rather than take another', async () => {
    const held = await listenOn(0);
    try {
      await assert.rejects(listenWithFallback(portOf(held), false, listenOn), { code: 'EADDRINUSE' });
    } finally {
      await close(held);
    }
  });

  it('when the port is 0, then any free port is taken', async () => {
    const got = await listenWithFallback(0, true, listenOn);
    assert.ok(portOf(got) > 0);
    await close(got);
  });

  it('when a listen fails otherwise, then the error is not hidden by a fallback', async () => {
    let calls = 0;
    await assert.rejects(listenWithFallback(9465, true, async () => { calls++; throw Object.assign(new Error('no'), { code: 'EACCES' }); }), { code: 'EACCES' });
    assert.equal(calls, 1);
  });

  it('when the port variables are unset, then the defaults may give way; when set, they may not; off turns metrics off', () => {
    const unset = loadConfig({});
    assert.equal(unset.ops.workerMetricsPort, 9465);
    assert.equal(unset.ops.workerMetricsPortFallback, true);
    assert.equal(unset.web.workerInternalPort, 8091);
    assert.equal(unset.web.workerInternalPortFallback, true);
    assert.equal(unset.web.workerInternalUrlGiven, false);
    const set = loadConfig({ MAYFLY_WORKER_METRICS_PORT: '9500', MAYFLY_WORKER_INTERNAL_PORT: '8200', MAYFLY_WORKER_INTERNAL_URL: 'http://127.0.0.1:8200' });
    assert.equal(set.ops.workerMetricsPort, 9500);
    assert.equal(set.ops.workerMetricsPortFallback, false);
    assert.equal(set.web.workerInternalPortFallback, false);
    assert.equal(set.web.workerInternalUrlGiven, true);
    assert.equal(loadConfig({ MAYFLY_WORKER_METRICS_PORT: '0' }).ops.workerMetricsPort, 0);
    assert.equal(loadConfig({ MAYFLY_WORKER_METRICS_PORT: 'off' }).ops.workerMetricsPort, undefined);
    assert.throws(() => loadConfig({ MAYFLY_WORKER_METRICS_PORT: 'any' }), /MAYFLY_WORKER_METRICS_PORT/);
  });
});

describe('worker endpoint registrations', () => {
  function memoryHash(): EndpointHash & { data: Map<string, Record<string, string>> } {
    const data = new Map<string, Record<string, string>>();
    return {
      data,
      async hset(key, fields) { const h = data.get(key) ?? {}; for (const [k, v] of Object.entries(fields)) h[k] = String(v); data.set(key, h); return 1; },
      async hgetall(key) { return { ...(data.get(key) ?? {}) }; },
      async hdel(key, ...fields) { const h = data.get(key) ?? {}; for (const f of fields) delete h[f]; return fields.length; },
    };
  }

  it('when workers register, then the live ones come back freshest first and expired ones are removed', async () => {
    const hash = memoryHash();
    const endpoints = new WorkerEndpoints(async () => hash, 'p');
    const t = 1_000_000;
    await endpoints.register('http://127.0.0.1:8091', t);
    await endpoints.register('http://127.0.0.1:8092', t + 1000);
    await endpoints.register('http://127.0.0.1:8093', t - ENDPOINT_TTL_MS);
    assert.deepEqual(await endpoints.live(t + 1), ['http://127.0.0.1:8092', 'http://127.0.0.1:8091']);
    assert.deepEqual(Object.keys(hash.data.get('p:worker-internal-endpoints')!).sort(), ['http://127.0.0.1:8091', 'http://127.0.0.1:8092']);
    await endpoints.unregister('http://127.0.0.1:8091');
    assert.deepEqual(await endpoints.live(t + 1), ['http://127.0.0.1:8092']);
  });

  it('when a registration is not a loopback http URL, then it is neither made nor believed', async () => {
    const hash = memoryHash();
    const endpoints = new WorkerEndpoints(async () => hash, 'p');
    await assert.rejects(endpoints.register('http://evil.example:80'), /loopback/);
    await hash.hset('p:worker-internal-endpoints', { 'http://10.0.0.9:8091': Date.now() + 10_000 });
    assert.deepEqual(await endpoints.live(), []);
  });
});
