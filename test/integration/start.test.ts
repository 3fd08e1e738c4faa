/**
 * How services start: Mayfly runs a starting service's own healthcheck itself (so readiness does
 * not wait for Docker's next check), and starts containers with the engine's whole CPU, applying
 * their CPU limit once healthy (MAYFLY_START_CPU_BOOST). Real Docker, Redis and PostgreSQL.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { projectRoot } from '../../core/config/config.js';
import { labeledObjects, startHarness, uniqueName, type Harness } from '../helpers/harness.js';
import { destroyed } from '../helpers/seed-checks.js';

const TEMPLATES = path.join(projectRoot(), 'test', 'fixtures', 'start-templates');
const LIMIT = 0.25e9;

async function appContainer(h: Harness, envId: string) {
  const [c] = await h.docker.listContainers({ all: true, filters: { label: [`mayfly.env=${envId}`, 'com.docker.compose.service=app'] } });
  // Listed, then gone before the inspect (a failed start's cleanup, a recreate): as if not there.
  return c ? h.docker.getContainer(c.Id).inspect().catch((err) => (err?.statusCode === 404 ? undefined : Promise.reject(err))) : undefined;
}

describe('starting services', () => {
  let h: Harness;
  let engineCpus: number;
  before(async () => {
    h = await startHarness({ env: { MAYFLY_TEMPLATES_DIR: TEMPLATES } });
    engineCpus = (await h.docker.info()).NCPU * 1e9;
  });
  after(async () => { await h.close(); });

  it('when a service becomes healthy long before Docker\'s first check, then the environment is ready while Docker still says "starting", with its CPU limit applied', { timeout: 120_000 }, async () => {
    const name = uniqueName('start');
    const put = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'slowcheck' });
    assert.equal(put.status, 202, JSON.stringify(put.body));

    // While it starts: the container runs with the engine's whole CPU.
    const seenWhileStarting = new Set<number>();
    let env = await h.store.getById(put.body.id);
    while (env && env.status !== 'ready' && env.status !== 'failed') {
      const info = await appContainer(h, put.body.id);
      if (info?.State.Running) seenWhileStarting.add(info.HostConfig.NanoCpus ?? 0);
      await sleep(100);
      env = await h.store.getById(put.body.id);
    }
    assert.equal(env?.status, 'ready', (await h.store.events(put.body.id)).map((e) => `${e.type}: ${e.message}`).join('\n'));
    assert.ok(seenWhileStarting.has(engineCpus), `boosted to ${engineCpus} while starting; saw ${[...seenWhileStarting].join(', ')}`);

    const info = (await appContainer(h, put.body.id))!;
    assert.equal(info.State.Health?.Status, 'starting', 'Docker has not run its first check (interval 60 s): the readiness came from our probe');
    assert.equal(info.HostConfig.NanoCpus, LIMIT, 'the CPU limit holds once the service is healthy');
    const events = await h.store.events(put.body.id);
    assert.ok(events.some((e) => e.message === 'app: healthy'), events.map((e) => e.message).join('\n'));

    await destroyed(h, name);
    assert.deepEqual(await labeledObjects(h.docker, put.body.id), { containers: 0, networks: 0, volumes: 0 });
  });

  it('when a worker died during a boosted start, then provisioning again applies the CPU limit to the container it keeps', { timeout: 120_000 }, async () => {
    const name = uniqueName('boosted');
    const res = await h.api('PUT', `/api/v1/environments/${name}?wait=60`, { template: 'slowcheck' });
    assert.equal(res.body.status, 'ready', JSON.stringify(res.body.failure));
    const before = (await appContainer(h, res.body.id))!;
    // What a worker killed between start and health leaves: the container still boosted.
    await h.docker.getContainer(before.Id).update({ NanoCpus: engineCpus });
    // The reconciler requeues a provisioning whose worker died; here the job is queued directly.
    await h.pool.query(`UPDATE environments SET status = 'provisioning' WHERE id = $1`, [res.body.id]);
    await h.ctx.queues.enqueueProvision(res.body.id, res.body.generation);
    for (let i = 0; i < 300; i++) {
      if ((await h.store.getById(res.body.id))?.status === 'ready') break;
      await sleep(100);
    }
    assert.equal((await h.store.getById(res.body.id))?.status, 'ready');
    const afterRun = (await appContainer(h, res.body.id))!;
    assert.equal(afterRun.Id, before.Id, 'the unchanged container was kept');
    assert.equal(afterRun.HostConfig.NanoCpus, LIMIT, 'and its CPU limit applied again');
    await destroyed(h, name);
  });
});
