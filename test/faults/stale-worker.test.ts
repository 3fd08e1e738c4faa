import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startHarness, dataVolumes, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';
import { WorkerProcess } from '../helpers/worker-process.js';
import { FAULT_ENV, nextDockerEvent, settled, type DockerEvent } from '../helpers/faults.js';
import { productsFingerprint, psql } from '../helpers/seed-checks.js';

/**
 * Fencing (issue 22): a worker frozen mid-provisioning (SIGSTOP) loses its queue lock, a second
 * worker takes the job and makes the environment ready; when the first wakes up, it must touch
 * nothing: not the containers, not the database volume or its data, not the timeline.
 */
const LOCK = '5s'; // MAYFLY_JOB_LOCK: short, so the job changes hands within seconds
const STALE_RUN_WAKE_MS = 20_000;

describe('faults: a worker that lost its job touches nothing', { timeout: 1_500_000 }, () => {
  let h: Harness;
  let a: WorkerProcess | undefined;
  let b: WorkerProcess | undefined;
  let paused: number | undefined;

  before(async () => {
    h = await startHarness({ worker: false, env: { ...FAULT_ENV, MAYFLY_JOB_LOCK: LOCK } });
    a = await WorkerProcess.start(h);
    // The golden snapshot first (its build holds a lock that a paused worker would keep): a warm-up
    // environment, so that the environments under test only clone.
    const warm = await h.api('PUT', `/api/v1/environments/${uniqueName('stale-warm')}?wait=300`, { template: 'shop' });
    assert.equal(warm.body.status, 'ready', JSON.stringify(warm.body));
  });
  after(async () => {
    if (paused) { try { process.kill(paused, 'SIGCONT'); } catch { /* gone */ } }
    await a?.stop();
    await b?.stop();
    await h?.close();
  });

  /**
   * Worker A alone takes a provisioning job (`begin` starts it, and gives the Docker event to pause
   * A at); A is paused, worker B joins and makes the environment ready; A is woken and must stand down.
   */
  async function pausedMidProvisioning(t: TestContext, begin: () => Promise<{ id: string; moment: Promise<DockerEvent> }>): Promise<void> {
    // Only A consumes until it is paused.
    await b?.stop();
    b = undefined;
    const { id, moment } = await begin();
    await moment;
    paused = a!.pid()!;
    process.kill(paused, 'SIGSTOP');
    const pausedAt = Date.now();

    // Worker B joins; A's lock lapses, the stall check hands the job to B, and B finishes it.
    b = await WorkerProcess.start(h);
    const env = await settled(h, id, 360_000);
    const timeline = async () => (await h.store.events(id)).map((e) => `${e.id} ${e.type}: ${e.message}`);
    assert.equal(env.status, 'ready', `${env.status} ${JSON.stringify(env.failure)}\n${(await timeline()).join('\n')}`);
    assert.ok(Date.now() - pausedAt > 5_000, 'A stayed paused past its lock');
    assert.match((await timeline()).join('\n'), /provisioning resumed/, 'B took the job over from A');

    // What A must not touch: the containers, the database volume, a row a tester wrote after ready.
    const containers = async () => (await h.docker.listContainers({ all: true, filters: { label: [`mayfly.env=${id}`] } }))
      .map((c) => `${c.Labels['com.docker.compose.service']} ${c.Id} ${c.State}`).sort();
    const before = await containers();
    const volumes = await dataVolumes(h.docker, id);
    assert.ok(before.length > 0 && before.every((c) => c.endsWith(' running')), before.join('\n'));
    assert.equal(volumes.length, 1, `one database volume: ${volumes.join(', ')}`);
    await psql(h, id, "CREATE TABLE tester_notes (note text); INSERT INTO tester_notes VALUES ('written after ready')");
    const seed = await productsFingerprint(h, id);
    assert.ok(seed.startsWith('12:'), `the whole seed: ${seed}`);
    await sleep(2_000); // B's last progress events land before the timeline is taken
    const events = await timeline();

    process.kill(paused, 'SIGCONT');
    paused = undefined;
    const resumedAt = Date.now();
    await sleep(STALE_RUN_WAKE_MS);
    const standDown = await waitUntil('worker A to log that it stood down', 120_000, async () => {
      const lines = a!.output().split('\n').filter((l) => l.includes('"stood down: ') && l.includes(id));
      return lines.length ? lines : undefined;
    });
    assert.equal(standDown.length, 1, `one stood-down line:\n${standDown.join('\n')}`);
    const line = JSON.parse(standDown[0]!) as { envId: string; generation: number; step: string; job: string };
    assert.equal(line.envId, id);
    assert.equal(line.generation, env.generation);
    assert.equal(line.job, 'provisioning');
    assert.ok(line.step, `names the step it stood down before: ${standDown[0]}`);
    t.diagnostic(`paused ${((resumedAt - pausedAt) / 1000).toFixed(1)} s; A stood down before "${line.step}"`);

    const now = (await h.store.getById(id))!;
    assert.equal(now.status, 'ready');
    assert.equal(now.generation, env.generation);
    assert.deepEqual(await containers(), before, 'the same containers, still running');
    assert.deepEqual(await dataVolumes(h.docker, id), volumes, 'the same database volume');
    assert.equal(await psql(h, id, 'SELECT note FROM tester_notes'), 'written after ready');
    assert.equal(await productsFingerprint(h, id), seed);
    const after = await timeline();
    assert.deepEqual(after, events, `nothing from the stale run in the timeline:\n${after.slice(events.length).join('\n')}`);
    const ready = after.findLastIndex((e) => / ready: /.test(e));
    assert.deepEqual(after.slice(ready + 1).filter((e) => / (retry|failed|cloned|pulled|progress|provisioning): /.test(e)), []);
    assert.ok(a!.running(), `worker A keeps running (it only stood down):\n${a!.output()}`);
  }

  it('when a worker is paused while it clones the seed, past its lock, and another finishes the job, then on waking it stands down: the ready environment keeps its containers, database volume, data and timeline', { timeout: 600_000 }, async (t) => {
    await pausedMidProvisioning(t, async () => {
      const name = uniqueName('stale-clone');
      // The moment: the clone's target volume of this environment is created.
      const moment = await nextDockerEvent(h.docker, { type: ['volume'], event: ['create'] },
        (e) => e.Actor.ID.startsWith(`${name}-`) && !e.Actor.ID.endsWith('-upper'));
      const res = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop' });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      return { id: res.body.id as string, moment: moment.event };
    });
  });

  it('when a worker is paused between removing the database container and its volume in a reset, past its lock, and another finishes the reset, then on waking it removes neither the new database container nor its volume', { timeout: 600_000 }, async (t) => {
    await pausedMidProvisioning(t, async () => {
      const name = uniqueName('stale-reset');
      const put = await h.api('PUT', `/api/v1/environments/${name}?wait=300`, { template: 'shop' });
      assert.equal(put.body.status, 'ready', JSON.stringify(put.body));
      const id = put.body.id as string;
      // The moment: the reset's run has removed the database container; its volume is next.
      const moment = await nextDockerEvent(h.docker, { type: ['container'], event: ['destroy'], label: [`mayfly.env=${id}`] },
        (e) => e.Actor.Attributes['com.docker.compose.service'] === 'db');
      const res = await h.api('POST', `/api/v1/environments/${name}/reset-db`);
      assert.equal(res.status, 202, JSON.stringify(res.body));
      return { id, moment: moment.event };
    });
  });
});
