import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, labeledObjects, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';
import { WorkerProcess } from '../helpers/worker-process.js';
import { startPrivateRegistry, type PrivateRegistry } from '../helpers/private-engines.js';
import { FAULT_ENV, nextDockerEvent, noLeftovers, pushFreshImage, removeImage, settled } from '../helpers/faults.js';
import { provisionJobId } from '../../core/queue/jobs.js';
import type { Environment } from '../../core/domain/environment.js';
import { productsFingerprint } from '../helpers/seed-checks.js';

/**
 * The worker runs as its own process here and is killed for real at chosen moments, caught from
 * Docker's event stream (a container of the environment starting or being removed, a clone
 * helper starting) or from the slow registry's byte count (a pull under way).
 */
describe('faults: the worker process is killed', { timeout: 900_000 }, () => {
  let h: Harness;
  let w: WorkerProcess;
  let registry: PrivateRegistry;
  const images: string[] = [];
  before(async () => {
    // 2 MB/s through the slow proxy: a 24 MB layer takes 12 s, time enough to stop the registry mid-pull.
    registry = await startPrivateRegistry({ throttleBytesPerSecond: 2_000_000 });
    // The stack policy allows images only from listed registries: the shared one and this private one.
    // MAYFLY_LOCAL_VOLUMES=off: the clone runs in a helper container, whose start is the moment
    // to kill the worker at (a copy on the host has no Docker event to catch).
    h = await startHarness({ worker: false, env: { ...FAULT_ENV, MAYFLY_LOCAL_VOLUMES: 'off', MAYFLY_ALLOWED_REGISTRIES: `127.0.0.1:5000,${registry.address},${registry.slowAddress}` } });
    w = await WorkerProcess.start(h);
  });
  after(async () => {
    await w?.stop();
    await h?.close();
    await registry?.stop();
    for (const ref of images) await removeImage(h.docker, ref);
  });

  async function put(prefix: string, body: Record<string, unknown> = {}): Promise<string> {
    const res = await h.api('PUT', `/api/v1/environments/${uniqueName(prefix)}`, { template: 'shop', ...body });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body.id as string;
  }

  async function crashAndRestart(): Promise<void> {
    const exit = await w.kill();
    assert.equal(exit.signal, 'SIGKILL');
    await w.restart();
  }

  /**
   * Ready: a worker crash is Mayfly's own fault, never the tester's, so it must cost nothing.
   * Given time on a loaded machine (a settle of up to 6 minutes), never a weaker outcome.
   */
  async function readyAfterAll(id: string): Promise<Environment> {
    const env = await settled(h, id, 360_000);
    assert.equal(env.status, 'ready', `${env.name} after the crash: ${env.status} ${JSON.stringify(env.failure)}\n` +
      (await h.store.events(id)).map((e) => `${e.type}: ${e.message}`).join('\n'));
    return env;
  }

  it('when it is SIGKILLed during a clone, a start and a pull, then after a restart every environment ends ready, with no leftovers', { timeout: 720_000 }, async () => {
    const instance = `mayfly.instance=${h.config.instance}`;

    // During a clone: the seed's clone helper container has just started.
    const clone = await nextDockerEvent(h.docker, { type: ['container'], event: ['start'], label: [instance, 'mayfly.helper'] },
      (e) => /clone|^prepare the overlay/.test(e.Actor.Attributes['mayfly.helper'] ?? ''));
    const cloned = await put('crash-clone');
    await clone.event;
    await crashAndRestart();

    // During a start: the environment's database container has just started.
    const startedId = await put('crash-start', { template: 'tiny' });
    const start = await nextDockerEvent(h.docker, { type: ['container'], event: ['start'], label: [`mayfly.env=${startedId}`] });
    await start.event;
    await crashAndRestart();

    // During a pull: a fresh image is coming through the slow registry.
    const fresh = await pushFreshImage(h.docker, `${h.config.registry}/mayfly/node:bookworm`, registry.address, 24, registry.slowAddress);
    images.push(fresh);
    const before = registry.bytesServed();
    const pulled = await put('crash-pull', { template: 'tiny', images: { app: fresh } });
    await waitUntil('the pull to be under way', 120_000, async () => registry.bytesServed() - before > 2_000_000);
    await crashAndRestart();

    const envs = [];
    for (const id of [cloned, startedId, pulled]) envs.push(await readyAfterAll(id));
    for (const env of envs) {
      const events = await h.store.events(env.id);
      assert.ok(events.some((e) => /resumed|requeued|retry/.test(`${e.type} ${e.message}`)),
        `${env.name} shows it was picked up again: ${events.map((e) => e.message).join(' | ')}`);
    }
    assert.ok((await productsFingerprint(h, cloned)).startsWith('12:'), 'the environment interrupted mid-clone has the whole seed');
    for (const env of envs) await h.api('DELETE', `/api/v1/environments/${env.name}?wait=120`);
    for (const env of envs) assert.equal((await h.store.getById(env.id))!.status, 'destroyed');
    await noLeftovers(h, h.docker, envs.map((e) => e.project), 90_000);
  });

  it('when it is SIGKILLed during a teardown, then after a restart the teardown finishes and nothing is left', { timeout: 420_000 }, async () => {
    const id = await put('crash-teardown', { template: 'tiny' });
    const env = await readyAfterAll(id);
    const removing = await nextDockerEvent(h.docker, { type: ['container'], event: ['kill', 'die', 'destroy'], label: [`mayfly.env=${id}`] });
    const res = await h.api('DELETE', `/api/v1/environments/${env.name}`);
    assert.equal(res.status, 202);
    await removing.event;
    await crashAndRestart();
    const gone = await settled(h, id, 180_000);
    assert.equal(gone.status, 'destroyed');
    assert.deepEqual(await labeledObjects(h.docker, id), { containers: 0, networks: 0, volumes: 0 });
    await noLeftovers(h, h.docker, [env.project], 60_000);
  });

  it('when it gets SIGTERM mid-job, then it finishes the job or hands it back, exits 0, and the environment settles after a restart', { timeout: 420_000 }, async () => {
    const id = await put('term', { template: 'tiny' });
    const start = await nextDockerEvent(h.docker, { type: ['container'], event: ['start'], label: [`mayfly.env=${id}`] });
    await start.event;
    const exit = await w.signal('SIGTERM', 240_000);
    assert.equal(exit.code, 0, w.output());
    assert.match(w.output(), /letting running jobs finish/);
    const now = (await h.store.getById(id))!;
    if (now.status !== 'ready' && now.status !== 'failed') {
      // Handed back: the job waits for the next worker, it is not stuck as active.
      const state = await (await h.queues.provision.getJob(provisionJobId(id, now.generation)))?.getState();
      assert.ok(state === 'waiting' || state === 'delayed' || state === 'prioritized', `status ${now.status}, job state after SIGTERM: ${state}`);
    }
    await w.restart();
    const env = await readyAfterAll(id);
    await h.api('DELETE', `/api/v1/environments/${env.name}?wait=120`);
    await noLeftovers(h, h.docker, [env.project], 60_000);
  });

  it('when it is SIGKILLed during a clone copied on the host (the default path), then after a restart the environment is ready with the whole seed', { timeout: 600_000 }, async () => {
    await w.stop();
    // The default: this process sees the engine's volumes and copies the clone itself.
    w = await WorkerProcess.start(h, { MAYFLY_LOCAL_VOLUMES: 'on' });
    const name = uniqueName('crash-hostcopy');
    // The kill point: the clone's target volume created, the host copy about to run or running.
    const created = await nextDockerEvent(h.docker, { type: ['volume'], event: ['create'] },
      (e) => e.Actor.ID.includes(name) && !e.Actor.ID.endsWith('-upper'));
    const res = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    await created.event;
    const exit = await w.kill();
    assert.equal(exit.signal, 'SIGKILL');
    await w.restart();
    const env = await readyAfterAll(res.body.id);
    const cloned = (await h.store.events(env.id)).filter((e) => e.type === 'cloned').pop();
    assert.equal((cloned?.data as { via?: string })?.via, 'host', `copied on the host: ${cloned?.message}`);
    assert.ok((await productsFingerprint(h, env.id)).startsWith('12:'), 'the whole seed, not a half-copied one');
    await h.api('DELETE', `/api/v1/environments/${env.name}?wait=120`);
    await noLeftovers(h, h.docker, [env.project], 60_000);
  });
});
