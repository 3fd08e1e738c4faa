import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, labeledObjects, uniqueName, waitUntil, type Harness, TEST_ACTOR } from '../helpers/harness.js';
import { FAULT_ENV, noLeftovers, settled } from '../helpers/faults.js';
import { MAX_STUCK_RETRIES, reconcile } from '../../worker/jobs/reconcile.js';
import type { Environment } from '../../core/domain/environment.js';

describe('faults: the reconciler heals and gives up within bounds', { timeout: 900_000 }, () => {
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

  it('when a ready environment\'s container is left paused (a worker killed in the middle of a live copy), then the reconciler unpauses it and the environment stays ready, same generation', { timeout: 240_000 }, async () => {
    const env = await readyEnv('fault-paused');
    const app = await container(env.id, 'app');
    await h.docker.getContainer(app!.Id).pause();
    const resumed = await waitUntil('the paused container to run again', 180_000, async () => ((await container(env.id, 'app'))?.State === 'running' ? true : undefined));
    assert.ok(resumed);
    const now = await h.store.getById(env.id);
    assert.equal(now?.status, 'ready');
    assert.equal(now?.generation, env.generation, 'unpaused, not redeployed');
    const events = await h.store.events(env.id);
    assert.ok(events.some((e) => e.type === 'resumed' && /^app unpaused/.test(e.message)), JSON.stringify(events.map((e) => e.type)));
    assert.ok(!events.some((e) => e.type === 'healing'), 'no heal');
  });

  const volumes = async (envId: string) =>
    (await h.docker.listVolumes({ filters: { label: [`mayfly.env=${envId}`] } })).Volumes?.map((v) => v.Name) ?? [];
  const ref = (env: Environment) => ({ id: env.id, project: env.project, generation: env.generation });

  /** Records `n` heals as if the reconciler had made them (now, unless aged by the caller). */
  async function healedAlready(envId: string, n: number) {
    for (let i = 0; i < n; i++) await h.store.addEvent(envId, 'healing', 'an earlier heal (made by the test)');
  }

  async function killApp(env: Environment) {
    const app = await container(env.id, 'app');
    await h.docker.getContainer(app!.Id).kill();
  }

  async function failedAs(envId: string, code: string) {
    const failed = await waitUntil('the failure', 120_000, async () => {
      const now = await h.store.getById(envId);
      return now?.status === 'failed' ? now : undefined;
    });
    assert.equal(failed.failure?.code, code, JSON.stringify(failed.failure));
    await waitUntil('its containers and network to go', 60_000, async () => {
      const o = await labeledObjects(h.docker, envId);
      return o.containers + o.networks === 0;
    });
    return failed;
  }

  it('when a ready environment was healed as often as allowed long ago, then it is healed again (old heals age out of the window)', { timeout: 240_000 }, async () => {
    const env = await readyEnv('fault-heal-old');
    await healedAlready(env.id, h.config.healsPerWindow);
    await h.pool.query(`UPDATE environment_events SET at = now() - ($2::int * interval '1 millisecond') - interval '1 minute'
                        WHERE environment_id = $1 AND type = 'healing'`, [env.id, h.config.healWindowMs]);
    await killApp(env);
    const healed = await waitUntil('the heal', 180_000, async () => {
      const now = await h.store.getById(env.id);
      return now && now.generation > env.generation && (now.status === 'ready' || now.status === 'failed') ? now : undefined;
    });
    assert.equal(healed.status, 'ready', JSON.stringify(healed.failure));
    assert.match((await h.store.events(env.id)).filter((e) => e.type === 'healing').at(-1)!.message, /app exited.*heal 1 of/);
    await h.api('DELETE', `/api/v1/environments/${env.name}?wait=120`);
  });

  it('when a ready environment\'s container exits and it was healed too often within the window, then it fails with SERVICE_VANISHED keeping its data until its lease ends, a redeploy gets the data back, and the lease\'s end (or the reaper, once destroyed) removes everything', { timeout: 360_000 }, async () => {
    const env = await readyEnv('fault-heal-limit');
    const wrote = await h.runtime.exec(ref(env), 'app', ['sh', '-c', 'echo tester-data > /data/marker']);
    assert.equal(wrote.exitCode, 0, wrote.output);
    const dataVolumes = await volumes(env.id);
    assert.equal(dataVolumes.length, 1, 'tiny has one data volume');

    await healedAlready(env.id, h.config.healsPerWindow);
    await killApp(env);
    const failed = await failedAs(env.id, 'SERVICE_VANISHED');
    assert.match(failed.failure!.message, /app exited/);
    assert.match(failed.failure!.message, new RegExp(`data is kept until its lease ends \\(${failed.expiresAt.toISOString()}\\)`), 'says until when');
    assert.match(failed.failure!.message, new RegExp(`PUT \\S+/api/v1/environments/${env.name}`), 'says how to get it back');
    assert.deepEqual(await volumes(env.id), dataVolumes, 'its data volume is kept');

    // The orphan reaper (a reconcile pass) leaves the kept data of a failed, unexpired environment alone.
    await reconcile(h.ctx);
    assert.deepEqual(await volumes(env.id), dataVolumes, 'the reaper keeps it');
    await noLeftovers(h, h.docker, [env.project]);

    // A redeploy (same request) runs on the kept data, within the lease it had.
    const again = await h.api('PUT', `/api/v1/environments/${env.name}?wait=180`, { template: 'tiny' });
    assert.equal(again.body.status, 'ready', JSON.stringify(again.body));
    assert.equal(again.body.expiresAt, env.expiresAt.toISOString(), 'the lease is kept');
    const read = await h.runtime.exec(ref((await h.store.getById(env.id))!), 'app', ['cat', '/data/marker']);
    assert.equal(read.output.trim(), 'tester-data', 'the tester\'s data is back');

    // Failed again; then its lease ends: everything goes, data included.
    await killApp((await h.store.getById(env.id))!);
    await failedAs(env.id, 'SERVICE_VANISHED');
    await h.pool.query('UPDATE environments SET expires_at = now() WHERE id = $1', [env.id]);
    const gone = await waitUntil('the expired failed environment to be destroyed', 120_000, async () => {
      const now = await h.store.getById(env.id);
      return now?.status === 'destroyed' ? now : undefined;
    });
    assert.equal(gone.destroyReason, 'expired');
    assert.deepEqual(await labeledObjects(h.docker, env.id), { containers: 0, networks: 0, volumes: 0 });
    await noLeftovers(h, h.docker, [env.project]);

    // A data volume of the destroyed environment that a cut-short teardown left: the reaper removes it.
    await h.docker.createVolume({ Name: `${env.project}_data`, Labels: {
      'mayfly.env': env.id, 'mayfly.instance': h.config.instance, 'com.docker.compose.project': env.project, 'com.docker.compose.volume': 'data',
    } });
    await reconcile(h.ctx);
    assert.deepEqual(await volumes(env.id), [], 'the reaper removes the data of a destroyed environment');
  });

  it('when an environment is stuck in provisioning with no job, then it is queued again, and after the limit it fails with a reason', { timeout: 240_000 }, async () => {
    await h.stopWorker();
    const images = h.ctx.catalog.resolveImages('tiny', 'bookworm', {});
    const mk = async (prefix: string) => {
      const { env } = await h.ctx.environments.recordDeploy(TEST_ACTOR, { name: uniqueName(prefix), template: 'tiny', owner: 'test', images, seed: null, ttlSeconds: 600 }, { ttlGiven: true });
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
