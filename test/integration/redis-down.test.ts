import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import assert from 'node:assert/strict';
import { startHarness, labeledObjects, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/private-engines.js';
import { TINY_TEMPLATES_DIR } from '../helpers/tiny.js';

async function answers(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

describe('Redis down (a private redis-server, stopped and started again)', { timeout: 600_000 }, () => {
  let redis: PrivateRedis;
  let h: Harness;
  before(async () => {
    redis = await startPrivateRedis();
    h = await startHarness({ env: { REDIS_URL: redis.url, MAYFLY_TEMPLATES_DIR: TINY_TEMPLATES_DIR } });
  });
  after(async () => {
    // close() needs Redis to clean its queues: start it again if the test stopped while it was down
    // (restarting a running one would pull Redis from under the worker's jobs while it closes).
    if (!(await answers(redis.url))) await redis.restart().catch(() => undefined);
    await h?.close();
    await redis.stop();
  });

  it('when Redis is down, then creates and a destroy answer 503 QUEUE_UNAVAILABLE with Retry-After within the bound, and the recorded environment becomes ready after Redis returns', async () => {
    const before = uniqueName('tiny-before');
    const first = await h.api('PUT', `/api/v1/environments/${before}?wait=90`, { template: 'tiny' });
    assert.equal(first.body.status, 'ready', JSON.stringify(first.body));

    await redis.kill();
    const name = uniqueName('tiny-down');
    const timings: number[] = [];
    const timed = async (method: string, path: string, body?: unknown) => {
      const t0 = Date.now();
      const r = await h.api(method, path, body);
      timings.push(Date.now() - t0);
      return r;
    };
    const created = await timed('PUT', `/api/v1/environments/${name}`, { template: 'tiny' });
    assert.equal(created.status, 503, JSON.stringify(created.body));
    assert.equal(created.body.error.code, 'QUEUE_UNAVAILABLE');
    assert.match(created.body.error.message, /recorded.*reconciler/);
    assert.ok(Number(created.headers.get('retry-after')) >= 1);
    const again = await timed('PUT', `/api/v1/environments/${uniqueName('tiny-down2')}`, { template: 'tiny' });
    assert.equal(again.status, 503);
    const destroy = await timed('DELETE', `/api/v1/environments/${before}`);
    assert.equal(destroy.status, 503, JSON.stringify(destroy.body));
    // Bounded: the producer gives up after 2 s; generous slack for a loaded machine, but never a hang.
    for (const ms of timings) assert.ok(ms < 8000, `answered in ${ms} ms`);
    console.log(`answers while Redis was down: ${timings.join(', ')} ms`);

    const recorded = await h.api('GET', `/api/v1/environments/${name}`);
    assert.equal(recorded.body.status, 'queued', 'the request is recorded in PostgreSQL');
    assert.ok((await h.store.events(recorded.body.id)).some((e) => e.type === 'queue-unavailable'));

    await redis.restart();
    const ready = await waitUntil('the recorded environment to become ready after Redis returned', 120_000, async () => {
      const r = await h.api('GET', `/api/v1/environments/${name}`);
      if (r.body.status === 'failed') throw new Error(JSON.stringify(r.body.failure));
      return r.body.status === 'ready' ? r.body : undefined;
    });
    assert.equal(ready.status, 'ready');
    // The destroy recorded while Redis was down is carried out too.
    await waitUntil('the destroy recorded while Redis was down to finish', 120_000, async () => (await h.store.getById(first.body.id))?.status === 'destroyed');
    assert.deepEqual(await labeledObjects(h.docker, first.body.id), { containers: 0, networks: 0, volumes: 0 });
    for (const r of await h.store.list({ statuses: ['queued', 'provisioning', 'ready'] })) await h.api('DELETE', `/api/v1/environments/${r.name}?wait=60`);
  });
});
