import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { labeledObjects, startHarness, uniqueName, waitUntil, type Harness, TEST_ACTOR } from '../helpers/harness.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/private-engines.js';
import { FAULT_ENV, noLeftovers, settled } from '../helpers/faults.js';
import { JOB_RECONCILE, expireJobId, provisionJobId } from '../../core/queue/jobs.js';
import type { Environment } from '../../core/domain/environment.js';

/** A private redis-server (never the shared one): restarted with SIGKILL, and emptied with FLUSHALL. */
describe('faults: Redis', { timeout: 600_000 }, () => {
  let h: Harness;
  let redis: PrivateRedis;
  before(async () => {
    redis = await startPrivateRedis();
    h = await startHarness({ env: { ...FAULT_ENV, REDIS_URL: redis.url } });
  });
  // Bounded: a close that never returns would hold the whole test run, not just fail this file.
  after(async () => {
    await h?.close();
    await redis?.stop();
  }, { timeout: 120_000 });

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

  it('when Redis is emptied while the worker runs, then the reconciler\'s schedule comes back by itself, a request whose job was lost is provisioned, and a lease that ends is torn down within the reconcile interval', { timeout: 420_000 }, async () => {
    // A lease long enough to become ready on a loaded machine, short enough to end during the test.
    const res = await h.api('PUT', `/api/v1/environments/${uniqueName('redis-lease')}`, { template: 'tiny', ttl: '90s' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const env = await settled(h, res.body.id);
    assert.equal(env.status, 'ready', JSON.stringify(env.failure));
    assert.ok(env.expiresAt.getTime() > Date.now(), 'ready before its lease ends (the machine is very slow otherwise)');
    assert.ok(await h.queues.lifecycle.getJobScheduler(JOB_RECONCILE), 'the reconciler is scheduled');

    await redis.flush();
    assert.equal(await h.queues.lifecycle.getJobScheduler(JOB_RECONCILE), undefined, 'Redis lost the reconciler\'s schedule');
    assert.equal(await expiryJob(env), undefined, 'and the lease\'s expiry job');
    // A request recorded in PostgreSQL whose job went with Redis (as if queued just before the flush).
    const images = h.ctx.catalog.resolveImages('tiny', 'bookworm', {});
    const { env: lost } = await h.ctx.environments.recordDeploy(TEST_ACTOR, { name: uniqueName('redis-lost'), template: 'tiny', owner: 'test', images, seed: null, ttlSeconds: 600 }, { ttlGiven: true });

    // Nothing restarts and Redis never drops the connection: the worker notices by itself.
    await waitUntil('the reconciler to be scheduled again', 60_000, async () => h.queues.lifecycle.getJobScheduler(JOB_RECONCILE));
    await waitUntil('the reconciler to run again (it rebuilds the lease\'s expiry job)', 60_000, async () => expiryJob(env));
    const provisioned = await settled(h, lost.id);
    assert.equal(provisioned.status, 'ready', JSON.stringify(provisioned.failure));

    // Torn down by the lease's end plus a reconcile interval, with time for a loaded machine to remove it.
    const deadline = env.expiresAt.getTime() + h.config.reconcileIntervalMs + 60_000;
    const gone = await waitUntil('the expired environment to be destroyed', Math.max(0, deadline - Date.now()), async () => {
      const now = await h.store.getById(env.id);
      return now?.status === 'destroyed' ? now : undefined;
    });
    assert.equal(gone.destroyReason, 'expired');
    assert.deepEqual(await labeledObjects(h.docker, env.id), { containers: 0, networks: 0, volumes: 0 }, 'its containers, network and volume are gone');

    await h.api('DELETE', `/api/v1/environments/${provisioned.name}?wait=120`);
    await noLeftovers(h, h.docker, [env.project, provisioned.project]);
  });

  it('when Redis is restarted in the middle of provisioning, then the work goes on and the lease expiry survives', { timeout: 300_000 }, async () => {
    const id = await put('redis-restart');
    await waitUntil('provisioning to start', 60_000, async () => (await h.store.getById(id))?.status === 'provisioning');
    await redis.restart();
    const env = await settled(h, id, 240_000);
    assert.equal(env.status, 'ready', JSON.stringify(env.failure));
    // On an idle machine it is ready before the test's own queue client has reconnected, which
    // refuses commands meanwhile ("Stream isn't writeable"): ask again until it answers.
    await waitUntil('its expiry job', 60_000, async () => expiryJob(env).catch(() => undefined));
    await h.api('DELETE', `/api/v1/environments/${env.name}?wait=120`);
    await noLeftovers(h, h.docker, [env.project]);
  });
});
