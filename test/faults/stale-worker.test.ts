import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startHarness, dataVolumes, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';
import { WorkerProcess } from '../helpers/worker-process.js';
import { FAULT_ENV, nextDockerEvent, settled } from '../helpers/faults.js';
import { productsFingerprint, psql } from '../helpers/seed-checks.js';

/**
 * Fencing (issue 22): a worker frozen mid-provisioning (SIGSTOP) loses its queue lock, a second
 * worker takes the job and makes the environment ready; when the first wakes up, it must touch
 * nothing: not the containers, not the database volume or its data, not the timeline.
 */
const LOCK = '5s'; // MAYFLY_JOB_LOCK: short, so the job changes hands within seconds
const STALE_RUN_WAKE_MS = 20_000;

describe('faults: a worker that lost its job touches nothing', { timeout: 900_000 }, () => {
  let h: Harness;
  let a: WorkerProcess | undefined;
  let b: WorkerProcess | undefined;
  let paused: number | undefined;

  before(async () => {
    h = await startHarness({ worker: false, env: { ...FAULT_ENV, MAYFLY_JOB_LOCK: LOCK } });
    a = await WorkerProcess.start(h);
  });
  after(async () => {
    if (paused) { try { process.kill(paused, 'SIGCONT'); } catch { /* gone */ } }
    await a?.stop();
    await b?.stop();
    await h?.close();
  });

  it('when a worker is paused mid-provisioning past its lock and another finishes the job, then on waking it stands down: the ready environment keeps its containers, database volume, data and timeline', { timeout: 840_000 }, async (t) => {
    // The golden snapshot first (its build holds a lock that a paused worker would keep): a warm-up
    // environment, so that the environment under test only clones.
    const warm = await h.api('PUT', `/api/v1/environments/${uniqueName('stale-warm')}?wait=300`, { template: 'shop' });
    assert.equal(warm.body.status, 'ready', JSON.stringify(warm.body));

    const name = uniqueName('stale');
    // The moment: the clone's target volume of this environment is created (worker A is cloning).
    const cloning = await nextDockerEvent(h.docker, { type: ['volume'], event: ['create'] },
      (e) => e.Actor.ID.startsWith(`${name}-`) && !e.Actor.ID.endsWith('-upper'));
    const res = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const id = res.body.id as string;
    await cloning.event;
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
    const ready = after.findIndex((e) => / ready: /.test(e));
    assert.deepEqual(after.slice(ready + 1).filter((e) => / (retry|failed|cloned|pulled|progress|provisioning): /.test(e)), []);
    assert.ok(a!.running(), `worker A keeps running (it only stood down):\n${a!.output()}`);
  });
});
