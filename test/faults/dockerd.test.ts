import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type Docker from 'dockerode';
import { AUTH, startHarness, labeledObjects, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';
import { WorkerProcess } from '../helpers/worker-process.js';
import { startPrivateDockerd, type PrivateDockerd } from '../helpers/private-engines.js';
import { FAULT_ENV, nextDockerEvent, noLeftovers, settled } from '../helpers/faults.js';

/** Every container, network and volume the daemon has (golden snapshot volumes aside). */
async function inventory(docker: Docker): Promise<Set<string>> {
  const [c, n, v] = await Promise.all([docker.listContainers({ all: true }), docker.listNetworks(), docker.listVolumes()]);
  return new Set([
    ...c.map((x) => `container ${x.Names[0]}`),
    ...n.map((x) => `network ${x.Name}`),
    ...(v.Volumes ?? []).filter((x) => !x.Labels?.['mayfly.golden']).map((x) => `volume ${x.Name}`),
  ]);
}

/**
 * A private dockerd (own data root, exec root, socket, containerd, bridge and address pool; the
 * shared daemon is never touched) killed with SIGKILL and restarted while an environment starts.
 */
describe('faults: the Docker daemon', { timeout: 600_000 }, () => {
  let d: PrivateDockerd;
  let h: Harness;
  let w: WorkerProcess;
  before(async () => {
    d = await startPrivateDockerd();
    // A short heal window, so that four host restarts fit in a test while each is a fresh heal.
    h = await startHarness({ env: { ...FAULT_ENV, DOCKER_HOST: d.host, MAYFLY_HEAL_WINDOW: '20s' }, worker: false });
    w = await WorkerProcess.start(h);
  });
  after(async () => {
    await w?.stop();
    await h?.close();
    await d?.stop();
  });

  it('when the private daemon publishes ports on 127.0.0.1 and runs user-defined networks, then an environment works on it', { timeout: 300_000 }, async () => {
    const name = uniqueName('dockerd-ok');
    const res = await h.api('PUT', `/api/v1/environments/${name}?wait=240`, { template: 'tiny' });
    assert.equal(res.body.status, 'ready', JSON.stringify(res.body));
    const page = await fetch(res.body.url, { headers: AUTH }); // previews are private: with the API token
    assert.equal(page.status, 200, 'the published port answers from the host');
    assert.equal((await h.api('DELETE', `/api/v1/environments/${name}?wait=120`)).body.status, 'destroyed');
  });

  it('when the daemon is killed with SIGKILL and restarted mid-start, then the environment is ready once the daemon is back, and nothing is left after it goes', { timeout: 420_000 }, async () => {
    const before = await inventory(d.docker);
    const name = uniqueName('dockerd-kill');
    const res = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'tiny' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const id = res.body.id as string;
    const start = await nextDockerEvent(d.docker, { type: ['container'], event: ['start'], label: [`mayfly.env=${id}`] });
    await start.event;
    await d.restart();
    assert.ok(w.running(), `the worker survives the daemon's restart:\n${w.output()}`);
    // A daemon crash is the host's fault, never the tester's: the start resumes once it is back.
    const env = await settled(h, id, 300_000);
    assert.equal(env.status, 'ready', `${env.status} ${JSON.stringify(env.failure)}\n${(await h.store.events(id)).map((e) => `${e.type}: ${e.message}`).join('\n')}`);
    const page = await fetch(env.urls[Object.keys(env.urls)[0]!]!, { headers: AUTH });
    assert.equal(page.status, 200);
    await h.api('DELETE', `/api/v1/environments/${name}?wait=120`);
    await noLeftovers(h, d.docker, [env.project], 90_000);
    const after = await inventory(d.docker);
    assert.deepEqual([...after].filter((x) => !before.has(x)), [], 'nothing new is left in the daemon');
  });
  it('when the host restarts four times under a ready environment (its containers killed, the daemon restarted), then each time it comes back ready with the data written before', { timeout: 600_000 }, async () => {
    const name = uniqueName('host-restart');
    const res = await h.api('PUT', `/api/v1/environments/${name}?wait=240`, { template: 'tiny' });
    assert.equal(res.body.status, 'ready', JSON.stringify(res.body));
    const id = res.body.id as string;
    const ref = async () => { const e = (await h.store.getById(id))!; return { id, project: e.project, generation: e.generation }; };
    const write = await h.runtime.exec(await ref(), 'app', ['sh', '-c', 'echo written-before-the-restarts > /data/kept.txt']);
    assert.equal(write.exitCode, 0, write.output);

    for (let round = 1; round <= 4; round++) {
      const generation = (await h.store.getById(id))!.generation;
      // The host going down: every process of the environment killed, then the daemon.
      const cs = await d.docker.listContainers({ filters: { label: [`mayfly.env=${id}`] } });
      assert.ok(cs.length > 0, `round ${round}: the environment runs`);
      for (const c of cs) process.kill((await d.docker.getContainer(c.Id).inspect()).State.Pid, 'SIGKILL');
      await d.restart();
      const back = await waitUntil(`round ${round}: the environment to be healed and ready`, 240_000, async () => {
        const e = await h.store.getById(id);
        return e && e.status === 'ready' && e.generation > generation ? e : undefined;
      }).catch(async (err) => assert.fail(`${(err as Error).message}\n${(await h.store.events(id)).map((e) => `${e.type}: ${e.message}`).join('\n')}`));
      const read = await h.runtime.exec({ id, project: back.project, generation: back.generation }, 'app', ['cat', '/data/kept.txt']);
      assert.equal(read.output.trim(), 'written-before-the-restarts', `round ${round}: the data is kept`);
      const page = await fetch(back.urls[Object.keys(back.urls)[0]!]!, { headers: AUTH });
      assert.equal(page.status, 200, `round ${round}: it answers`);
      // The next restart comes after the heal window (MAYFLY_HEAL_WINDOW, 20 s here), as restarts of a real host do.
      await new Promise((r) => setTimeout(r, 21_000));
    }
    const events = (await h.store.events(id)).map((e) => e.type);
    assert.equal(events.filter((t) => t === 'healing').length, 4, `four heals in its timeline: ${events}`);
    assert.equal((await h.api('DELETE', `/api/v1/environments/${name}?wait=120`)).body.status, 'destroyed');
  });

  it('when the daemon has no address range left for a network, then the environment fails saying so and what to do, and leaves nothing', { timeout: 300_000 }, async () => {
    // One network that takes the private daemon's whole pool (10.213.0.0/16): the next one has none.
    const filler = await d.docker.createNetwork({ Name: 'mayfly-test-pool-filler', Driver: 'bridge', IPAM: { Config: [{ Subnet: '10.213.0.0/16' }] } });
    try {
      const before = await inventory(d.docker);
      const name = uniqueName('dockerd-pool');
      const res = await h.api('PUT', `/api/v1/environments/${name}?wait=240`, { template: 'tiny' });
      assert.equal(res.body.status, 'failed', JSON.stringify(res.body));
      assert.equal(res.body.failure?.code, 'NETWORK_POOLS_EXHAUSTED', JSON.stringify(res.body.failure));
      assert.match(res.body.failure?.message, /no address range left.*default-address-pools/s);
      await waitUntil('the failed environment to be cleaned', 60_000, async () => {
        const o = await labeledObjects(d.docker, res.body.id);
        return o.containers + o.networks + o.volumes === 0;
      });
      assert.deepEqual([...(await inventory(d.docker))].filter((x) => !before.has(x)), [], 'nothing new is left in the daemon');
    } finally {
      await filler.remove();
    }
  });
});
