import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, labeledObjects, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';
import { FAULT_ENV, noLeftovers, settled } from '../helpers/faults.js';
import { MAX_HEALS, MAX_STUCK_RETRIES } from '../../worker/jobs/reconcile.js';

describe('faults: the reconciler heals and gives up within bounds', { timeout: 480_000 }, () => {
  let h: Harness;
  before(async () => { h = await startHarness({ env: FAULT_ENV }); });
  after(async () => { await h?.close(); });

  async function readyEnv(prefix: string) {
    const res = await h.api('PUT', `/api/v1/environments/${uniqueName(prefix)}`, { template: 'tiny' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const env = await settled(h, res.body.id);
    assert.equal(env.status, 'ready', JSON.stringify(env.failure));
    return env;
  }

  async function container(envId: string, service: string) {
    const [c] = await h.docker.listContainers({ all: true, filters: { label: [`mayfly.env=${envId}`, `com.docker.compose.service=${service}`] } });
    return c;
  }

  it('when a ready environment\'s container is removed behind its back, then the reconciler redeploys it as a new generation and it is ready again', { timeout: 240_000 }, async () => {
    const env = await readyEnv('fault-heal');
    const app = await container(env.id, 'app');
    await h.docker.getContainer(app!.Id).remove({ force: true });
    const healed = await waitUntil('the heal', 180_000, async () => {
      const now = await h.store.getById(env.id);
      return now && now.generation > env.generation && (now.status === 'ready' || now.status === 'failed') ? now : undefined;
    });
    assert.equal(healed.status, 'ready', JSON.stringify(healed.failure));
    const events = await h.store.events(env.id);
    const healing = events.find((e) => e.type === 'healing');
    assert.ok(healing, 'the timeline says why it was redeployed');
    assert.match(healing.message, /app vanished/);
    assert.ok((await container(env.id, 'app'))?.State === 'running');
    assert.ok(h.ctx.reconcileActions.snapshot().healed >= 1, 'the action is counted');
  });

  it('when a ready environment\'s container exits and it was healed too often already, then it fails with SERVICE_VANISHED and is cleaned', { timeout: 240_000 }, async () => {
    const env = await readyEnv('fault-heal-limit');
    for (let i = 0; i < MAX_HEALS; i++) await h.store.addEvent(env.id, 'healing', 'an earlier heal (made by the test)');
    const app = await container(env.id, 'app');
    await h.docker.getContainer(app!.Id).kill();
    const failed = await settled(h, env.id, 60_000).then(() => waitUntil('the failure', 60_000, async () => {
      const now = await h.store.getById(env.id);
      return now?.status === 'failed' ? now : undefined;
    }));
    assert.equal(failed.failure?.code, 'SERVICE_VANISHED');
    assert.match(failed.failure!.message, /app exited/);
    await waitUntil('its objects to go', 30_000, async () => {
      const o = await labeledObjects(h.docker, env.id);
      return o.containers + o.networks + o.volumes === 0;
    });
    await noLeftovers(h, h.docker, [env.project]);
  });

  it('when an environment is stuck in provisioning with no job, then it is queued again, and after the limit it fails with a reason', { timeout: 240_000 }, async () => {
    await h.stopWorker();
    const images = h.ctx.catalog.resolveImages('tiny', 'bookworm', {});
    const mk = async (prefix: string) => {
      const { env } = await h.store.upsert({ name: uniqueName(prefix), template: 'tiny', owner: 'test', images, seed: null, ttlSeconds: 600 }, { ttlGiven: true });
      // As if a worker had started it and died, and its job was then lost.
      const moved = await h.store.transition(env.id, 'provisioning', { generation: env.generation, event: { type: 'provisioning', message: 'provisioning started (by the test)' } });
      assert.ok(moved);
      return moved;
    };
    const retried = await mk('fault-stuck');
    const hopeless = await mk('fault-stuck-limit');
    for (let i = 0; i < MAX_STUCK_RETRIES; i++) {
      await h.store.addEvent(hopeless.id, 'requeued', 'an earlier retry (made by the test)', { generation: hopeless.generation });
    }
    await h.startWorker();
    const a = await settled(h, retried.id);
    assert.equal(a.status, 'ready', JSON.stringify(a.failure));
    assert.ok((await h.store.events(retried.id)).some((e) => e.type === 'requeued'));
    const b = await settled(h, hopeless.id, 60_000);
    assert.equal(b.status, 'failed');
    assert.equal(b.failure?.code, 'PROVISION_STUCK');
    assert.deepEqual(await labeledObjects(h.docker, hopeless.id), { containers: 0, networks: 0, volumes: 0 });
    await h.api('DELETE', `/api/v1/environments/${a.name}?wait=90`);
  });

  it('when a stray container is attached to an environment\'s network at teardown, then it is removed and the network and volumes still go', { timeout: 240_000 }, async () => {
    const env = await readyEnv('fault-stray');
    const network = `${env.project}_default`;
    const stray = await h.docker.createContainer({
      name: `stray-${env.id.slice(0, 8)}`, Image: `${h.config.registry}/mayfly/debian:bookworm`, Cmd: ['sleep', '600'],
      HostConfig: { NetworkMode: network },
    });
    try {
      await stray.start();
      const res = await h.api('DELETE', `/api/v1/environments/${env.name}?wait=120`);
      assert.equal(res.body.status, 'destroyed', JSON.stringify(res.body));
      await assert.rejects(stray.inspect(), (err: { statusCode?: number }) => err.statusCode === 404, 'the stray container is gone');
      await assert.rejects(h.docker.getNetwork(network).inspect(), (err: { statusCode?: number }) => err.statusCode === 404, 'the network is gone');
      assert.deepEqual(await labeledObjects(h.docker, env.id), { containers: 0, networks: 0, volumes: 0 });
    } finally {
      await stray.remove({ force: true }).catch(() => undefined);
    }
  });

  it('when a clone helper container is left stopped by a worker that died, then the reconciler removes it', { timeout: 120_000 }, async () => {
    const c = await h.docker.createContainer({
      Image: `${h.config.registry}/mayfly/debian:bookworm`, Cmd: ['true'],
      Labels: { 'mayfly.instance': h.config.instance, 'mayfly.helper': 'copy clone (left by the test)' }, HostConfig: { NetworkMode: 'none' },
    });
    await c.start();
    await c.wait();
    // The reconciler leaves a helper alone for 30 s after it stopped (its job removes it at once).
    await waitUntil('the helper to be removed', 90_000, async () => (await c.inspect().then(() => false, () => true)));
  });
});
