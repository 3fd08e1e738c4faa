import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startHarness, labeledObjects, uniqueName, waitUntil, type Harness, TEST_ACTOR } from '../helpers/harness.js';

describe('the reconciler converges Docker and Redis to PostgreSQL', () => {
  let h: Harness;
  before(async () => { h = await startHarness(); });
  after(async () => { await h.close(); });

  async function makeObjects(envId: string, instance: string): Promise<string> {
    const labels = { 'mayfly.env': envId, 'mayfly.instance': instance };
    const suffix = envId.slice(0, 8);
    await h.docker.createVolume({ Name: `orphan-${suffix}_data`, Labels: labels });
    await h.docker.createNetwork({ Name: `orphan-${suffix}_default`, Labels: labels });
    const c = await h.docker.createContainer({
      name: `orphan-${suffix}-app-1`, Image: `${h.config.registry}/mayfly/debian:bookworm`, Cmd: ['sleep', '600'], Labels: labels,
      // No volume mount: the reaper may remove the volume first, and Docker would then make an unlabeled one.
      HostConfig: { NetworkMode: `orphan-${suffix}_default` },
    });
    await c.start();
    return c.id;
  }

  it('when Docker objects carry the label of an environment that is not live, then they are removed, and another instance\'s are left alone', async () => {
    const orphan = randomUUID();
    const foreign = randomUUID();
    // Made while no worker runs, so the reaper cannot race the making.
    await h.stopWorker();
    await makeObjects(orphan, h.config.instance);
    await makeObjects(foreign, 'some-other-installation');
    assert.deepEqual(await labeledObjects(h.docker, orphan), { containers: 1, networks: 1, volumes: 1 });
    await h.startWorker();
    try {
      await waitUntil('the orphan reaper', 20_000, async () => {
        const o = await labeledObjects(h.docker, orphan);
        return o.containers + o.networks + o.volumes === 0;
      });
      assert.deepEqual(await labeledObjects(h.docker, foreign), { containers: 1, networks: 1, volumes: 1 });
    } finally {
      await h.runtime.remove(foreign);
      await h.runtime.remove(orphan);
    }
  });

  it('when an environment is recorded but its provisioning job never reached Redis, then the reconciler queues it and it becomes ready', async () => {
    const name = uniqueName('shop-lostjob');
    const { env } = await h.ctx.environments.recordDeploy(TEST_ACTOR, 
      { name, template: 'shop', owner: 'test', images: h.ctx.catalog.resolveImages('shop', 'main', {}), seed: 'demo', ttlSeconds: 600 },
      { ttlGiven: true },
    );
    const ready = await waitUntil('the reconciler to queue and provision it', 120_000, async () => {
      const now = await h.store.getById(env.id);
      return now?.status === 'ready' || now?.status === 'failed' ? now : undefined;
    });
    assert.equal(ready.status, 'ready', JSON.stringify(ready.failure));
    const events = await h.store.events(env.id);
    assert.ok(events.some((e) => e.type === 'requeued'), 'the timeline says it was queued again');
    await h.api('DELETE', `/api/v1/environments/${name}?wait=60`);
    assert.deepEqual(await labeledObjects(h.docker, env.id), { containers: 0, networks: 0, volumes: 0 });
  });

  it('when the worker stops mid-provisioning and a new one starts, then the environment still becomes ready', async () => {
    const name = uniqueName('shop-restart');
    const res = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop' });
    await waitUntil('provisioning to start', 30_000, async () => (await h.store.getById(res.body.id))?.status === 'provisioning');
    // A graceful stop lets the running job finish or hand it back; either way a new worker converges.
    await h.stopWorker();
    await h.startWorker();
    const env = await waitUntil('the environment to settle', 120_000, async () => {
      const now = await h.store.getById(res.body.id);
      return now?.status === 'ready' || now?.status === 'failed' ? now : undefined;
    });
    assert.equal(env.status, 'ready', JSON.stringify(env.failure));
    const objects = await labeledObjects(h.docker, env.id);
    assert.equal(objects.containers, 2);
    await h.api('DELETE', `/api/v1/environments/${name}?wait=60`);
  });
});
