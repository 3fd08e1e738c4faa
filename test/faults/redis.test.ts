import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/private-engines.js';
import { FAULT_ENV, noLeftovers, settled } from '../helpers/faults.js';
import { expireJobId, provisionJobId } from '../../core/queue.js';
import type { Environment } from '../../core/domain.js';

/** A private redis-server (never the shared one): restarted with SIGKILL, and emptied with FLUSHALL. */
describe('faults: Redis', { timeout: 600_000 }, () => {
  let h: Harness;
  let redis: PrivateRedis;
  before(async () => {
    redis = await startPrivateRedis();
    h = await startHarness({ env: { ...FAULT_ENV, REDIS_URL: redis.url } });
  });
  after(async () => {
    await h?.close();
    await redis?.stop();
  });

  async function put(prefix: string): Promise<string> {
    const res = await h.api('PUT', `/api/v1/environments/${uniqueName(prefix)}`, { template: 'tiny', ttl: '3h' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body.id as string;
  }

  async function expiryJob(env: Environment) {
    return h.queues.lifecycle.getJob(expireJobId(env.id, env.expiresAt.getTime()));
  }

  it('when Redis is emptied, then queued work and every lease expiry are rebuilt from PostgreSQL', { timeout: 360_000 }, async () => {
    const ready = await settled(h, await put('redis-ready'));
    assert.equal(ready.status, 'ready', JSON.stringify(ready.failure));
    assert.ok(await expiryJob(ready), 'the lease has its expiry job');

    // Work in flight: queued while no worker runs, so its job sits in Redis.
    await h.stopWorker();
    const queuedId = await put('redis-queued');
    const queued = (await h.store.getById(queuedId))!;
    assert.ok(await h.queues.provision.getJob(provisionJobId(queuedId, queued.generation)));

    await redis.flush();
    assert.equal(await expiryJob(ready), undefined);
    assert.equal(await h.queues.provision.getJob(provisionJobId(queuedId, queued.generation)), undefined);

    await h.startWorker();
    const job = await waitUntil('the ready lease\'s expiry job to be rebuilt', 60_000, async () => expiryJob(ready));
    assert.equal(job.timestamp + (job.opts.delay ?? 0) >= ready.expiresAt.getTime() - 1000, true, 'it fires when the lease ends, not before');
    const rebuilt = await settled(h, queuedId);
    assert.equal(rebuilt.status, 'ready', JSON.stringify(rebuilt.failure));
    assert.ok((await h.store.events(queuedId)).some((e) => e.type === 'requeued'), 'the timeline says it was queued again');
    await waitUntil('the queued one\'s expiry job', 60_000, async () => expiryJob(rebuilt));

    for (const env of [ready, rebuilt]) await h.api('DELETE', `/api/v1/environments/${env.name}?wait=120`);
    await noLeftovers(h, h.docker, [ready.project, rebuilt.project]);
  });

  it('when Redis is restarted in the middle of provisioning, then the work goes on and the lease expiry survives', { timeout: 300_000 }, async () => {
    const id = await put('redis-restart');
    await waitUntil('provisioning to start', 60_000, async () => (await h.store.getById(id))?.status === 'provisioning');
    await redis.restart();
    const env = await settled(h, id, 240_000);
    assert.equal(env.status, 'ready', JSON.stringify(env.failure));
    await waitUntil('its expiry job', 60_000, async () => expiryJob(env));
    await h.api('DELETE', `/api/v1/environments/${env.name}?wait=120`);
    await noLeftovers(h, h.docker, [env.project]);
  });
});
