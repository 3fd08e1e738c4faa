import { capsuleJobId, checkpointJobId, deleteCapsuleJobId } from '../../core/queue/jobs.js';
import { decideRedelivery, type RedeliveryDecision } from '../../core/domain/redelivery.js';
import { errorMessage } from '../../core/domain/errors.js';
import type { Capsule } from '../../core/store/capsules.js';
import type { Checkpoint } from '../../core/store/checkpoints.js';
import type { WorkerContext } from '../context.js';
import type { ReconcileAction } from '../reconcile-actions.js';
import { REASON_TEXT } from './checkpoints.js';

/**
 * Seconds a checkpoint or capsule must have been pending (or a capsule deleting) before the
 * reconciler looks for its job: the door records it, then queues it within 2 s (delivery.ts).
 */
export const DATA_GRACE_SECONDS = 10;

/** What this module uses of the worker's context (narrow: a test gives it only these). */
type Deps = Pick<WorkerContext, 'capsules' | 'checkpoints' | 'logger' | 'queues' | 'reconcileActions' | 'seeds' | 'store'>;

/** What one pass did, by kind (the reconciler's report; the metrics count it). */
export interface RedeliveryReport {
  checkpointsRequeued: number;
  checkpointsFailed: number;
  capsulesRequeued: number;
  capsulesFailed: number;
  capsuleDeletesRequeued: number;
  /** Deletions past the bound that the reconciler finished itself (volume, then record). */
  capsuleDeletesFinished: number;
  capsuleDeletesFailed: number;
}

type Log = WorkerContext['logger'];

/**
 * The reconciler's delivery of data work whose job is gone (docs/faults-and-recovery.md): a
 * checkpoint or bug capsule PostgreSQL holds as `pending`, or a capsule `deleting`, past
 * DATA_GRACE_SECONDS, with no live job in the lifecycle queue (Redis lost it, or its worker died
 * past BullMQ's stall limit). Each is queued again under its own job id (so a live job is never
 * doubled) up to MAX_DATA_REDELIVERIES times, then failed with why; one whose environment is
 * gone, failed (or, for a capsule, is being redeployed) is failed at once, with an event in the
 * environment's timeline. A copy a dead worker left half-made never counts: the record stays
 * pending until the copy is whole (the next run replaces the volume), and a failed one's volume
 * is removed.
 */
export async function redeliverDataWork(ctx: Deps, log: Log): Promise<RedeliveryReport> {
  const report: RedeliveryReport = { checkpointsRequeued: 0, checkpointsFailed: 0, capsulesRequeued: 0, capsulesFailed: 0, capsuleDeletesRequeued: 0, capsuleDeletesFinished: 0, capsuleDeletesFailed: 0 };
  for (const cp of await ctx.checkpoints.stalePending(DATA_GRACE_SECONDS)) {
    try {
      const done = await redeliverCheckpoint(ctx, cp, log);
      if (done === 'requeued') report.checkpointsRequeued++;
      if (done === 'failed') report.checkpointsFailed++;
    } catch (err) {
      log.warn({ checkpoint: cp.id, envId: cp.environmentId, err: errorMessage(err) }, `could not queue checkpoint ${cp.id} of ${cp.environment} again; retrying next run`);
    }
  }
  for (const capsule of await ctx.capsules.unfinished(DATA_GRACE_SECONDS)) {
    try {
      if (capsule.status === 'pending') {
        const done = await redeliverCapsule(ctx, capsule, log);
        if (done === 'requeued') report.capsulesRequeued++;
        if (done === 'failed') report.capsulesFailed++;
      } else {
        const done = await redeliverDeletion(ctx, capsule, log);
        if (done === 'requeued') report.capsuleDeletesRequeued++;
        if (done === 'finished') report.capsuleDeletesFinished++;
        if (done === 'failed') report.capsuleDeletesFailed++;
      }
    } catch (err) {
      log.warn({ capsule: capsule.id, envId: capsule.environmentId, err: errorMessage(err) }, `could not deliver the work of bug capsule ${capsule.id} again; retrying next run`);
    }
  }
  return report;
}

type Outcome = 'requeued' | 'finished' | 'failed' | 'left';

async function redeliverCheckpoint(ctx: Deps, cp: Checkpoint & { redeliveries: number }, log: Log): Promise<Outcome> {
  const jobId = checkpointJobId(cp.id);
  if (await liveJob(ctx, jobId)) return 'left';
  const env = await ctx.store.getById(cp.environmentId);
  const decision = decideRedelivery({ work: 'checkpoint', envStatus: env?.status, redeliveries: cp.redeliveries, automatic: cp.reason !== 'manual' });
  const what = `checkpoint ${cp.id} of ${cp.environment} (${REASON_TEXT[cp.reason]})`;
  if (decision.action === 'wait') return 'left';
  if (decision.action === 'requeue') {
    // Counted only while it is still pending: one taken since this run listed it is not queued again.
    const attempt = await ctx.checkpoints.countRedelivery(cp.id);
    if (attempt === undefined) return 'left';
    await requeue(ctx, jobId, () => ctx.queues.enqueueCheckpoint(cp.environmentId, cp.id));
    const message = `${what} had no live job (its worker died or Redis lost it); queued again (${attempt} of ${decision.max})`;
    await ctx.store.addEvent(cp.environmentId, 'checkpoint-requeued', message, { checkpoint: cp.id, attempt });
    record(ctx, 'checkpoint-requeued', cp.environmentId);
    log.warn({ envId: cp.environmentId, checkpoint: cp.id, attempt }, message);
    return 'requeued';
  }
  if (!(await ctx.checkpoints.markFailed(cp.id, decision.why))) return 'left';
  await removeCopy(ctx, cp.volume, what, log);
  const message = `${what} was not taken: ${decision.why}`;
  await ctx.store.addEvent(cp.environmentId, 'checkpoint-failed', message, { checkpoint: cp.id, reason: cp.reason, by: 'reconciler' });
  record(ctx, 'checkpoint-failed', cp.environmentId);
  log.warn({ envId: cp.environmentId, checkpoint: cp.id, envStatus: env?.status ?? 'gone' }, message);
  return 'failed';
}

async function redeliverCapsule(ctx: Deps, capsule: Capsule & { redeliveries: number }, log: Log): Promise<Outcome> {
  const jobId = capsuleJobId(capsule.id);
  if (await liveJob(ctx, jobId)) return 'left';
  const env = await ctx.store.getById(capsule.environmentId);
  const decision = decideRedelivery({ work: 'capsule', envStatus: env?.status, redeliveries: capsule.redeliveries });
  const what = `bug capsule ${capsule.id} ("${capsule.name}") of ${capsule.environment}`;
  if (decision.action === 'wait') return 'left';
  if (decision.action === 'requeue') {
    const attempt = await ctx.capsules.countRedelivery(capsule.id, 'pending');
    if (attempt === undefined) return 'left';
    await requeue(ctx, jobId, () => ctx.queues.enqueueCapsule(capsule.id));
    const message = `${what} had no live job (its worker died or Redis lost it); queued again (${attempt} of ${decision.max})`;
    await ctx.store.addEvent(capsule.environmentId, 'capsule-requeued', message, { capsule: capsule.id, attempt });
    record(ctx, 'capsule-requeued', capsule.environmentId);
    log.warn({ envId: capsule.environmentId, capsule: capsule.id, attempt }, message);
    return 'requeued';
  }
  return failCapsule(ctx, capsule, decision, what, env?.status, log);
}

async function failCapsule(ctx: Deps, capsule: Capsule, decision: Extract<RedeliveryDecision, { action: 'fail' }>, what: string, envStatus: string | undefined, log: Log): Promise<Outcome> {
  if (!(await ctx.capsules.markFailed(capsule.id, decision.why))) return 'left';
  // Not labeled with its environment: nothing else would ever remove a half-made copy.
  await removeCopy(ctx, capsule.volume, what, log);
  const message = `${what} was not taken: ${decision.why}`;
  await ctx.store.addEvent(capsule.environmentId, 'capsule-failed', message, { capsule: capsule.id, by: 'reconciler' });
  record(ctx, 'capsule-failed', capsule.environmentId);
  log.warn({ envId: capsule.environmentId, capsule: capsule.id, envStatus: envStatus ?? 'gone' }, message);
  return 'failed';
}

async function redeliverDeletion(ctx: Deps, capsule: Capsule & { redeliveries: number }, log: Log): Promise<Outcome> {
  const jobId = deleteCapsuleJobId(capsule.id);
  if (await liveJob(ctx, jobId)) return 'left';
  const decision = decideRedelivery({ work: 'capsule-delete', envStatus: undefined, redeliveries: capsule.redeliveries });
  const what = `the deletion of bug capsule ${capsule.id} ("${capsule.name}", of ${capsule.environment})`;
  if (decision.action === 'wait') return 'left';
  if (decision.action === 'requeue') {
    const attempt = await ctx.capsules.countRedelivery(capsule.id, 'deleting');
    if (attempt === undefined) return 'left';
    await requeue(ctx, jobId, () => ctx.queues.enqueueDeleteCapsule(capsule.id));
    record(ctx, 'capsule-delete-requeued', capsule.environmentId);
    log.warn({ capsule: capsule.id, volume: capsule.volume, attempt }, `${what} had no live job (its worker died or Redis lost it); queued again (${attempt} of ${decision.max})`);
    return 'requeued';
  }
  // Its jobs never finished: one last try here says what the engine answers, for the record.
  try {
    await ctx.seeds.removeCheckpointVolume(capsule.volume);
    await ctx.capsules.forget(capsule.id);
    record(ctx, 'capsule-delete-finished', capsule.environmentId);
    log.warn({ capsule: capsule.id, volume: capsule.volume }, `${what}: its jobs never finished, so the reconciler removed its volume ${capsule.volume} and its record itself`);
    return 'finished';
  } catch (err) {
    const why = `${decision.why}; removing its volume ${capsule.volume} failed: ${errorMessage(err)}`;
    if (!(await ctx.capsules.failDeletion(capsule.id, why))) return 'left';
    record(ctx, 'capsule-delete-failed', capsule.environmentId);
    log.warn({ capsule: capsule.id, volume: capsule.volume, err: errorMessage(err) }, `${what} did not finish: ${why}`);
    return 'failed';
  }
}

/** Removes a copy that will never be used ("not found" is done); a failure is logged, the record already says failed. */
async function removeCopy(ctx: Deps, volume: string, what: string, log: Log): Promise<void> {
  await ctx.seeds.removeCheckpointVolume(volume).catch((err) =>
    log.warn({ volume, err: errorMessage(err) }, `could not remove the volume ${volume} of ${what}, which failed; remove it with "docker volume rm ${volume}"`));
}

function record(ctx: Deps, kind: ReconcileAction, envId: string): void {
  ctx.reconcileActions.record(kind, envId);
}

/** A job that will still run: waiting, delayed, active or prioritized (not completed or failed). */
export async function liveJob(ctx: Pick<WorkerContext, 'queues'>, jobId: string, queue: 'provision' | 'lifecycle' = 'lifecycle'): Promise<boolean> {
  const job = await ctx.queues[queue].getJob(jobId);
  if (!job) return false;
  const state = await job.getState();
  return state !== 'completed' && state !== 'failed' && state !== 'unknown';
}

/**
 * Queues a job again under its own id. A finished job still kept under that id (BullMQ would
 * take the add for a duplicate and do nothing) is removed first.
 */
async function requeue(ctx: Deps, jobId: string, add: () => Promise<void>): Promise<void> {
  const old = await ctx.queues.lifecycle.getJob(jobId);
  if (old) await old.remove().catch(() => undefined);
  await add();
}
