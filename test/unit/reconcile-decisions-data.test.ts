/**
 * What the reconciler decides about data work PostgreSQL holds as unfinished while no live job
 * will finish it (docs/faults-and-recovery.md): a checkpoint or bug capsule left `pending`, a
 * capsule left `deleting`, because Redis lost the job or its worker died. The engine is a
 * FakeRuntime behind our own ports; the store (PostgreSQL) and the queue (Redis, this file's own
 * prefix) are real.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Job } from 'bullmq';
import { capsuleJobId, checkpointJobId, deleteCapsuleJobId, type CapsuleJobData, type CheckpointJobData, type DeleteCapsuleJobData } from '../../core/queue/jobs.js';
import { capsuleVolume, checkpointVolume } from '../../core/domain/names.js';
import { decideRedelivery, MAX_DATA_REDELIVERIES } from '../../core/domain/redelivery.js';
import type { Environment } from '../../core/domain/environment.js';
import type { Capsule } from '../../core/store/capsules.js';
import type { Checkpoint } from '../../core/store/checkpoints.js';
import { reconcile, type ReconcileReport } from '../../worker/jobs/reconcile.js';
import { checkpointHandler } from '../../worker/jobs/checkpoints.js';
import { capsuleHandler, deleteCapsuleHandler } from '../../worker/jobs/capsules.js';
import type { ReconcileActionEvent } from '../../worker/reconcile-actions.js';
import { startFakeWorker, type FakeWorker } from '../helpers/fake-worker.js';

let w: FakeWorker;
let n = 0;
const actions: ReconcileActionEvent[] = [];

before(async () => {
  w = await startFakeWorker();
  w.ctx.reconcileActions.on('action', (e) => actions.push(e));
});
after(async () => { await w?.close(); });

async function readyEnv(): Promise<Environment> {
  const env = await w.create(`data-${++n}`);
  assert.equal(await w.provision(env), 'ready');
  await w.settle(env.id);
  return w.get(env.id);
}

/** A checkpoint asked for through a door: recorded pending, its job queued. */
async function askCheckpoint(env: Environment): Promise<Checkpoint> {
  const cp = await w.ctx.checkpoints.add(env, env.generation, 'manual', 'tester');
  await w.ctx.queues.enqueueCheckpoint(env.id, cp.id);
  return cp;
}

/** A bug capsule asked for through a door: recorded pending, its job queued. */
async function askCapsule(env: Environment): Promise<Capsule> {
  const capsule = await w.ctx.capsules.add({
    name: null, note: '', team: env.team, env: { id: env.id, name: env.name, template: env.template, seed: env.seed, images: env.images, digests: env.digests },
    requests: [], createdBy: 'tester', volumeOf: (id) => capsuleVolume(w.config.instance, id),
  });
  await w.ctx.queues.enqueueCapsule(capsule.id);
  return capsule;
}

/** Redis lost the job (FLUSHALL, a restart without persistence). */
async function loseJob(jobId: string): Promise<void> {
  await w.ctx.queues.lifecycle.remove(jobId);
  assert.equal(await w.ctx.queues.lifecycle.getJob(jobId), undefined);
}

/** As if it had been asked for a minute ago (the reconciler leaves fresh records alone). */
async function age(table: 'checkpoints' | 'capsules', id: string): Promise<void> {
  await w.pool.query(`UPDATE ${table} SET created_at = now() - interval '1 minute'${table === 'capsules' ? `, deleted_at = deleted_at - interval '1 minute'` : ''} WHERE id = $1`, [id]);
}

const runCheckpoint = (cp: Checkpoint) => checkpointHandler(w.ctx)({ data: { environmentId: cp.environmentId, checkpointId: cp.id } } as Job<CheckpointJobData>);
const runCapsule = (capsule: Capsule) => capsuleHandler(w.ctx)({ data: { capsuleId: capsule.id } } as Job<CapsuleJobData>);
const runDelete = (capsule: Capsule) => deleteCapsuleHandler(w.ctx)({ data: { capsuleId: capsule.id } } as Job<DeleteCapsuleJobData>);

/** One reconciler run: its report, and what it did about this environment. */
async function reconcileFor(envId: string): Promise<{ report: ReconcileReport; kinds: string[] }> {
  const from = actions.length;
  const report = await reconcile(w.ctx);
  return { report, kinds: actions.slice(from).filter((a) => a.envId === envId).map((a) => a.kind) };
}

/**
 * A worker died in the middle of the copy: what it leaves is the fresh target volume, half
 * filled (the fake engine's copy makes it so before phase 'copy'), while the record stays pending
 * (its save lock went with its connection). Made here as the engine holds it then.
 */
function diesInCopy(name: string, envId: string): void {
  w.fake.volumes.set(name, { name, envId, data: false });
  assert.equal(volume(name)?.data, false, 'a half-made copy');
}

const lastEvent = async (envId: string) => (await w.ctx.store.events(envId)).at(-1)!;
const volume = (name: string) => w.fake.volumes.get(name);

describe('the redelivery decision', () => {
  it('when the environment is ready or asleep, then lost work is queued again up to the bound, then failed with why', () => {
    for (const work of ['checkpoint', 'capsule'] as const) {
      for (const envStatus of ['ready', 'sleeping'] as const) {
        assert.deepEqual(decideRedelivery({ work, envStatus, redeliveries: 0 }), { action: 'requeue', attempt: 1, max: MAX_DATA_REDELIVERIES });
        assert.deepEqual(decideRedelivery({ work, envStatus, redeliveries: MAX_DATA_REDELIVERIES - 1 }), { action: 'requeue', attempt: MAX_DATA_REDELIVERIES, max: MAX_DATA_REDELIVERIES });
        const past = decideRedelivery({ work, envStatus, redeliveries: MAX_DATA_REDELIVERIES });
        assert.equal(past.action, 'fail');
        assert.match((past as { why: string }).why, new RegExp(`queued ${MAX_DATA_REDELIVERIES + 1} times without being taken .*giving up: take a new ${work === 'checkpoint' ? 'checkpoint' : 'bug capsule'}`));
      }
    }
    assert.deepEqual(decideRedelivery({ work: 'capsule-delete', envStatus: undefined, redeliveries: 2 }), { action: 'requeue', attempt: 3, max: MAX_DATA_REDELIVERIES });
    assert.match((decideRedelivery({ work: 'capsule-delete', envStatus: undefined, redeliveries: 3 }) as { why: string }).why, /without finishing .*delete it again/);
  });

  it('when the environment is gone, destroyed or failed, then a checkpoint or capsule fails at once, saying so; a deletion does not care', () => {
    for (const work of ['checkpoint', 'capsule'] as const) {
      for (const envStatus of [undefined, 'destroyed', 'destroying'] as const) {
        const d = decideRedelivery({ work, envStatus, redeliveries: 0 });
        assert.equal(d.action, 'fail');
        assert.match((d as { why: string }).why, /its environment was destroyed before .* was taken/);
      }
      assert.match((decideRedelivery({ work, envStatus: 'failed', redeliveries: 0 }) as { why: string }).why, /its environment failed before .*redeploy it/);
    }
    assert.equal(decideRedelivery({ work: 'capsule-delete', envStatus: undefined, redeliveries: 0 }).action, 'requeue');
  });

  it('when a checkpoint taken before a redeploy, reset or rewind is still pending while its environment is ready again, then it fails: the data it was to keep is gone', () => {
    for (const envStatus of ['ready', 'sleeping'] as const) {
      const d = decideRedelivery({ work: 'checkpoint', envStatus, redeliveries: 0, automatic: true });
      assert.equal(d.action, 'fail');
      assert.match((d as { why: string }).why, /the provisioning it was to precede went ahead without it .*take a new checkpoint/);
    }
    assert.equal(decideRedelivery({ work: 'checkpoint', envStatus: 'provisioning', redeliveries: 0, automatic: true }).action, 'wait');
  });

  it('when the environment is being provisioned, then a checkpoint waits for that provisioning (which takes it) and a capsule fails with why', () => {
    for (const envStatus of ['queued', 'provisioning'] as const) {
      assert.equal(decideRedelivery({ work: 'checkpoint', envStatus, redeliveries: MAX_DATA_REDELIVERIES }).action, 'wait');
      const d = decideRedelivery({ work: 'capsule', envStatus, redeliveries: 0 });
      assert.equal(d.action, 'fail');
      assert.match((d as { why: string }).why, /being redeployed .*take a new bug capsule once it is ready again/);
    }
  });
});

describe('the reconciler redelivers checkpoints over a fake engine', () => {
  it('when a pending checkpoint still has its job, or was asked for a moment ago, then it is left alone', async () => {
    const env = await readyEnv();
    const cp = await askCheckpoint(env);
    await loseJob(checkpointJobId(cp.id));
    // Fresh: the door may still be queueing it.
    assert.deepEqual((await reconcileFor(env.id)).kinds, []);
    assert.equal(await w.ctx.queues.lifecycle.getJob(checkpointJobId(cp.id)), undefined, 'not queued within the grace');
    // Old, with a live job: never doubled.
    await w.ctx.queues.enqueueCheckpoint(env.id, cp.id);
    await age('checkpoints', cp.id);
    assert.deepEqual((await reconcileFor(env.id)).kinds, []);
    assert.equal((await w.pool.query('SELECT redeliveries FROM checkpoints WHERE id = $1', [cp.id])).rows[0].redeliveries, 0);
    assert.ok(!(await w.events(env.id)).includes('checkpoint-requeued'));
  });

  it('when a pending checkpoint\'s job was lost, then it is queued again, counted, said in the timeline, and taken', async () => {
    const env = await readyEnv();
    const cp = await askCheckpoint(env);
    await loseJob(checkpointJobId(cp.id));
    await age('checkpoints', cp.id);
    const { report, kinds } = await reconcileFor(env.id);
    assert.deepEqual(kinds, ['checkpoint-requeued']);
    assert.equal(report.checkpointsRequeued, 1);
    const job = await w.ctx.queues.lifecycle.getJob(checkpointJobId(cp.id));
    assert.ok(job, 'its job is back under its own id');
    assert.deepEqual(job.data, { environmentId: env.id, checkpointId: cp.id });
    const event = await lastEvent(env.id);
    assert.equal(event.type, 'checkpoint-requeued');
    assert.match(event.message, new RegExp(`checkpoint ${cp.id} of ${env.name} \\(on request\\) had no live job .*queued again \\(1 of ${MAX_DATA_REDELIVERIES}\\)`));
    // The next run finds its job live: nothing more.
    assert.deepEqual((await reconcileFor(env.id)).kinds, []);
    await runCheckpoint(cp);
    assert.equal((await w.ctx.checkpoints.get(cp.id))!.status, 'ready');
    assert.equal(volume(checkpointVolume(env.project, cp.id))?.data, true);
  });

  it('when the worker died in the middle of the copy and the job was lost, then the half-made volume is never ready, and the run it is queued again for replaces it', async () => {
    const env = await readyEnv();
    const cp = await askCheckpoint(env);
    const half = checkpointVolume(env.project, cp.id);
    diesInCopy(half, env.id);
    await loseJob(checkpointJobId(cp.id));
    await age('checkpoints', cp.id);
    assert.equal((await w.ctx.checkpoints.get(cp.id))!.status, 'pending', 'not counted as ready');
    assert.ok(!(await w.ctx.checkpoints.list(env.id)).some((c) => c.status === 'ready' && c.id === cp.id));
    assert.deepEqual((await reconcileFor(env.id)).kinds, ['checkpoint-requeued']);
    await runCheckpoint(cp);
    assert.equal((await w.ctx.checkpoints.get(cp.id))!.status, 'ready');
    assert.equal(volume(half)?.data, true, 'the copy was made again, whole');
  });

  it('when a checkpoint\'s job was lost more often than the bound, then it fails with why, its half-made copy goes, and the timeline says so', async () => {
    const env = await readyEnv();
    const cp = await askCheckpoint(env);
    const half = checkpointVolume(env.project, cp.id);
    diesInCopy(half, env.id);
    await loseJob(checkpointJobId(cp.id));
    await w.pool.query('UPDATE checkpoints SET redeliveries = $2 WHERE id = $1', [cp.id, MAX_DATA_REDELIVERIES]);
    await age('checkpoints', cp.id);
    const { report, kinds } = await reconcileFor(env.id);
    assert.deepEqual(kinds, ['checkpoint-failed']);
    assert.equal(report.checkpointsFailed, 1);
    const failed = (await w.ctx.checkpoints.get(cp.id))!;
    assert.equal(failed.status, 'failed');
    assert.match(failed.error ?? '', new RegExp(`queued ${MAX_DATA_REDELIVERIES + 1} times without being taken \\(its worker died or Redis lost the job each time\\); giving up: take a new checkpoint`));
    assert.equal(volume(half), undefined, 'the half-made copy is removed');
    const event = await lastEvent(env.id);
    assert.equal(event.type, 'checkpoint-failed');
    assert.match(event.message, new RegExp(`checkpoint ${cp.id} of ${env.name} \\(on request\\) was not taken: its job was queued`));
    assert.equal(await w.ctx.queues.lifecycle.getJob(checkpointJobId(cp.id)), undefined, 'not queued again');
    assert.deepEqual((await reconcileFor(env.id)).kinds, [], 'once failed, it is left alone');
  });

  it('when a pending checkpoint\'s environment is being provisioned, then it is left to that provisioning, which takes it', async () => {
    const env = await readyEnv();
    const cp = await askCheckpoint(env);
    await loseJob(checkpointJobId(cp.id));
    await age('checkpoints', cp.id);
    const moved = await w.ctx.store.transition(env.id, 'queued', { from: ['ready'], bumpGeneration: true, set: { ready_at: null }, event: { type: 'redeploy', message: 'redeploy (test)' } });
    assert.ok(moved);
    assert.deepEqual((await reconcileFor(env.id)).kinds.filter((k) => k.startsWith('checkpoint')), []);
    assert.equal(await w.ctx.queues.lifecycle.getJob(checkpointJobId(cp.id)), undefined);
    assert.equal(await w.provision(moved), 'ready');
    assert.equal((await w.ctx.checkpoints.get(cp.id))!.status, 'ready', 'the provisioning took it first');
  });

  it('when a checkpoint recorded before a reset is pending while the environment is ready again, then it fails, never taken of the data after the reset', async () => {
    const env = await readyEnv();
    const cp = await w.ctx.checkpoints.add(env, env.generation, 'before-reset', 'tester');
    await age('checkpoints', cp.id);
    const { kinds } = await reconcileFor(env.id);
    assert.deepEqual(kinds, ['checkpoint-failed']);
    const failed = (await w.ctx.checkpoints.get(cp.id))!;
    assert.equal(failed.status, 'failed');
    assert.match(failed.error ?? '', /the provisioning it was to precede went ahead without it/);
    assert.equal(volume(checkpointVolume(env.project, cp.id)), undefined, 'no copy was made');
    assert.match((await lastEvent(env.id)).message, new RegExp(`checkpoint ${cp.id} of ${env.name} \\(before the reset\\) was not taken`));
    assert.equal(await w.ctx.queues.lifecycle.getJob(checkpointJobId(cp.id)), undefined);
  });

  it('when a pending checkpoint\'s environment failed or was destroyed, then it fails at once with why, in the timeline', async () => {
    for (const to of ['failed', 'destroyed'] as const) {
      const env = await readyEnv();
      const cp = await askCheckpoint(env);
      await loseJob(checkpointJobId(cp.id));
      await age('checkpoints', cp.id);
      if (to === 'failed') {
        await w.ctx.store.transition(env.id, 'failed', { from: ['ready'], set: { failure_code: 'TEST', failure_message: 'failed (test)' }, event: { type: 'failed', message: 'failed (test)' } });
      } else {
        await w.ctx.store.transition(env.id, 'destroying', { from: ['ready'], event: { type: 'destroying', message: 'destroy (test)' } });
        await w.ctx.store.transition(env.id, 'destroyed', { from: ['destroying'], event: { type: 'destroyed', message: 'destroyed without its teardown (test)' } });
      }
      assert.ok((await reconcileFor(env.id)).kinds.includes('checkpoint-failed'), to);
      const failed = (await w.ctx.checkpoints.get(cp.id))!;
      assert.equal(failed.status, 'failed');
      assert.match(failed.error ?? '', to === 'failed' ? /its environment failed before the checkpoint was taken/ : /its environment was destroyed before the checkpoint was taken/);
      const event = (await w.ctx.store.events(env.id)).find((e) => e.type === 'checkpoint-failed');
      assert.match(event?.message ?? '', new RegExp(`checkpoint ${cp.id} .* was not taken: its environment`));
      assert.equal(await w.ctx.queues.lifecycle.getJob(checkpointJobId(cp.id)), undefined, 'not queued again');
    }
  });
});

describe('the reconciler redelivers bug capsules over a fake engine', () => {
  it('when a pending capsule\'s job was lost, then it is queued again, counted, said in the timeline, and taken', async () => {
    const env = await readyEnv();
    const capsule = await askCapsule(env);
    await loseJob(capsuleJobId(capsule.id));
    await age('capsules', capsule.id);
    const { report, kinds } = await reconcileFor(env.id);
    assert.deepEqual(kinds, ['capsule-requeued']);
    assert.equal(report.capsulesRequeued, 1);
    assert.deepEqual((await w.ctx.queues.lifecycle.getJob(capsuleJobId(capsule.id)))?.data, { capsuleId: capsule.id });
    const event = await lastEvent(env.id);
    assert.equal(event.type, 'capsule-requeued');
    assert.match(event.message, new RegExp(`bug capsule ${capsule.id} \\("${capsule.name}"\\) of ${env.name} had no live job .*queued again \\(1 of ${MAX_DATA_REDELIVERIES}\\)`));
    assert.deepEqual((await reconcileFor(env.id)).kinds, [], 'its job is live: not doubled');
    await runCapsule(capsule);
    assert.equal((await w.ctx.capsules.get(capsule.id))!.status, 'ready');
    assert.equal(volume(capsule.volume)?.data, true);
  });

  it('when the worker died in the middle of the copy and the job was lost, then the half-made volume is never ready, and the run it is queued again for replaces it', async () => {
    const env = await readyEnv();
    const capsule = await askCapsule(env);
    diesInCopy(capsule.volume, '');
    await loseJob(capsuleJobId(capsule.id));
    await age('capsules', capsule.id);
    assert.equal((await w.ctx.capsules.get(capsule.id))!.status, 'pending', 'not counted as ready');
    assert.deepEqual((await reconcileFor(env.id)).kinds, ['capsule-requeued']);
    await runCapsule(capsule);
    const ready = (await w.ctx.capsules.get(capsule.id))!;
    assert.equal(ready.status, 'ready');
    assert.equal(volume(capsule.volume)?.data, true, 'the copy was made again, whole');
  });

  it('when a capsule\'s job was lost more often than the bound, then it fails with why and its half-made volume goes (nothing else would remove it)', async () => {
    const env = await readyEnv();
    const capsule = await askCapsule(env);
    diesInCopy(capsule.volume, '');
    await loseJob(capsuleJobId(capsule.id));
    await w.pool.query('UPDATE capsules SET redeliveries = $2 WHERE id = $1', [capsule.id, MAX_DATA_REDELIVERIES]);
    await age('capsules', capsule.id);
    const { report, kinds } = await reconcileFor(env.id);
    assert.deepEqual(kinds, ['capsule-failed']);
    assert.equal(report.capsulesFailed, 1);
    const failed = (await w.ctx.capsules.get(capsule.id))!;
    assert.equal(failed.status, 'failed');
    assert.match(failed.error ?? '', /queued 4 times without being taken .*giving up: take a new bug capsule/);
    assert.equal(volume(capsule.volume), undefined, 'the half-made copy is removed');
    const event = await lastEvent(env.id);
    assert.equal(event.type, 'capsule-failed');
    assert.match(event.message, new RegExp(`bug capsule ${capsule.id} .* was not taken: its job was queued 4 times`));
  });

  it('when a pending capsule\'s environment is being redeployed, then it fails at once with why (a capsule is of what QA saw)', async () => {
    const env = await readyEnv();
    const capsule = await askCapsule(env);
    await loseJob(capsuleJobId(capsule.id));
    await age('capsules', capsule.id);
    assert.ok(await w.ctx.store.transition(env.id, 'queued', { from: ['ready'], bumpGeneration: true, set: { ready_at: null }, event: { type: 'redeploy', message: 'redeploy (test)' } }));
    assert.ok((await reconcileFor(env.id)).kinds.includes('capsule-failed'));
    const failed = (await w.ctx.capsules.get(capsule.id))!;
    assert.equal(failed.status, 'failed');
    assert.match(failed.error ?? '', /its environment is being redeployed \(queued\) and its job was lost; .*take a new bug capsule once it is ready again/);
    assert.ok((await w.ctx.store.events(env.id)).some((e) => e.type === 'capsule-failed' && e.message.includes(capsule.id)));
  });

  it('when a pending capsule\'s environment is gone altogether, then it fails with why, and its record says so', async () => {
    const env = await readyEnv();
    const capsule = await askCapsule(env);
    await loseJob(capsuleJobId(capsule.id));
    await age('capsules', capsule.id);
    await w.pool.query(`UPDATE capsules SET environment_id = gen_random_uuid() WHERE id = $1`, [capsule.id]);
    await reconcile(w.ctx);
    const failed = (await w.ctx.capsules.get(capsule.id))!;
    assert.equal(failed.status, 'failed');
    assert.match(failed.error ?? '', /its environment was destroyed before the bug capsule was taken \(its job was lost\); there is no database left to copy/);
  });

  it('when a deleted capsule\'s removal job was lost, then it is queued again, and its volume and record go', async () => {
    const env = await readyEnv();
    const capsule = await askCapsule(env);
    await runCapsule(capsule);
    assert.ok(volume(capsule.volume));
    assert.ok(await w.ctx.capsules.markDeleting(capsule.id, 'tester'));
    await w.ctx.queues.enqueueDeleteCapsule(capsule.id);
    await loseJob(deleteCapsuleJobId(capsule.id));
    assert.deepEqual((await reconcileFor(env.id)).kinds, [], 'just deleted: left to its job');
    await age('capsules', capsule.id);
    const { report, kinds } = await reconcileFor(env.id);
    assert.deepEqual(kinds, ['capsule-delete-requeued']);
    assert.equal(report.capsuleDeletesRequeued, 1);
    assert.ok(await w.ctx.queues.lifecycle.getJob(deleteCapsuleJobId(capsule.id)));
    assert.deepEqual((await reconcileFor(env.id)).kinds, [], 'its job is live: not doubled');
    await runDelete(capsule);
    assert.equal(volume(capsule.volume), undefined);
    assert.equal(await w.ctx.capsules.get(capsule.id), undefined);
  });

  it('when a deletion\'s job was lost more often than the bound, then the reconciler removes the volume itself, or, refused, shows the capsule failed with the engine\'s answer', async () => {
    const env = await readyEnv();
    const finished = await askCapsule(env);
    const refused = await askCapsule(env);
    for (const c of [finished, refused]) {
      await runCapsule(c);
      assert.ok(await w.ctx.capsules.markDeleting(c.id, 'tester'));
      await age('capsules', c.id);
      await w.pool.query('UPDATE capsules SET redeliveries = $2 WHERE id = $1', [c.id, MAX_DATA_REDELIVERIES]);
    }
    const removeVolume = w.fake.snapshotEngine.removeVolume.bind(w.fake.snapshotEngine);
    w.fake.snapshotEngine.removeVolume = async (name) => {
      if (name === refused.volume) throw new Error(`remove ${name}: volume is in use (injected)`);
      return removeVolume(name);
    };
    try {
      const { report, kinds } = await reconcileFor(env.id);
      assert.deepEqual(kinds.sort(), ['capsule-delete-failed', 'capsule-delete-finished']);
      assert.equal(report.capsuleDeletesFinished, 1);
      assert.equal(report.capsuleDeletesFailed, 1);
    } finally {
      w.fake.snapshotEngine.removeVolume = removeVolume;
    }
    assert.equal(volume(finished.volume), undefined);
    assert.equal(await w.ctx.capsules.get(finished.id), undefined, 'finished: volume, then record');
    const shown = (await w.ctx.capsules.get(refused.id))!;
    assert.equal(shown.status, 'failed', 'shown again, so its team sees the volume remains');
    assert.match(shown.error ?? '', new RegExp(`queued 4 times without finishing .*delete it again; removing its volume ${refused.volume} failed: remove ${refused.volume}: volume is in use \\(injected\\)`));
    assert.ok(volume(refused.volume));
    // Deleted again: a deletion of its own.
    assert.ok(await w.ctx.capsules.markDeleting(refused.id, 'tester'));
    await runDelete(refused);
    assert.equal(await w.ctx.capsules.get(refused.id), undefined);
  });
});
