import type { Job } from 'bullmq';
import { errorMessage } from '../../core/domain/errors.js';
import type { Environment } from '../../core/domain/environment.js';
import { formatBytes } from '../../core/domain/bytes.js';
import type { CheckpointJobData } from '../../core/queue/jobs.js';
import type { Checkpoint } from '../../core/store/checkpoints.js';
import type { RunFence } from '../../core/store/environments.js';
import type { WorkerContext } from '../context.js';

/** What taking and pruning checkpoints needs of the worker. */
type CheckpointDeps = Pick<WorkerContext, 'catalog' | 'checkpoints' | 'config' | 'logger' | 'seeds' | 'store'>;

/** How a checkpoint's reason reads in a sentence ("checkpoint cp-1 taken before the reset"). */
export const REASON_TEXT: Record<Checkpoint['reason'], string> = {
  manual: 'on request', 'before-redeploy': 'before the redeploy', 'before-reset': 'before the reset', 'before-rewind': 'before the rewind',
};

/**
 * Takes one recorded checkpoint of `env`'s database (docs/data-workflows.md), writes the outcome
 * to its timeline, then removes the checkpoints past the environment's limit (except the one a
 * rewind waits on). A failure is recorded on the checkpoint and in the timeline, and returned: a
 * checkpoint that could not be taken never stops the redeploy or reset it preceded.
 */
export async function takeCheckpoint(ctx: CheckpointDeps, env: Environment, cp: Checkpoint, fence?: RunFence): Promise<{ ok: boolean; message: string }> {
  const template = ctx.catalog.has(env.template) ? ctx.catalog.get(env.template) : undefined;
  const log = ctx.logger.child({ envId: env.id, checkpoint: cp.id });
  try {
    if (!template?.database) throw new Error(`template "${env.template}" has no database service`);
    const stack = ctx.catalog.render(env.template, { env: { id: env.id, name: env.name, project: env.project }, images: env.images });
    const taken = await ctx.seeds.checkpoint(env, template, stack, { id: env.id, project: env.project, generation: env.generation }, cp.id);
    // Room for it before it shows as ready: whoever waits for "ready" then sees at most the limit
    // kept. A removal that fails is logged and left for the next checkpoint; it never fails this one.
    await pruneCheckpoints(ctx, env, 1).catch((err) => log.warn({ err: errorMessage(err) }, `could not remove an old checkpoint of ${env.name}; the next checkpoint tries again`));
    await ctx.checkpoints.markReady(cp.id, taken.sizeBytes, taken.pauseMs);
    const message = `checkpoint ${cp.id} taken ${REASON_TEXT[cp.reason]} (database paused ${taken.pauseMs} ms${taken.sizeBytes !== null ? `, ${formatBytes(taken.sizeBytes)}` : ''})`;
    await ctx.store.addEvent(env.id, 'checkpoint', message, { checkpoint: cp.id, reason: cp.reason, pauseMs: taken.pauseMs, sizeBytes: taken.sizeBytes, via: taken.via }, fence);
    log.info({ pauseMs: taken.pauseMs, sizeBytes: taken.sizeBytes }, message);
    return { ok: true, message };
  } catch (err) {
    const message = `checkpoint ${cp.id} ${REASON_TEXT[cp.reason]} failed: ${errorMessage(err)}`;
    const marked = await ctx.checkpoints.markFailed(cp.id, errorMessage(err)).catch(() => true);
    if (!marked && (await ctx.checkpoints.get(cp.id).catch(() => undefined))?.status === 'ready') {
      // Its job was delivered again while this run hung, and the other run took it.
      log.warn({ err: errorMessage(err) }, `a stale run of checkpoint ${cp.id} failed after another run took it; the checkpoint stays ready`);
      return { ok: false, message: `checkpoint ${cp.id} was taken by another run meanwhile` };
    }
    await ctx.store.addEvent(env.id, 'checkpoint-failed', message, { checkpoint: cp.id, reason: cp.reason }, fence).catch(() => undefined);
    log.warn({ err: errorMessage(err) }, message);
    return { ok: false, message };
  }
}

/**
 * Removes the checkpoints past MAYFLY_CHECKPOINTS_PER_ENV, oldest first (volume, then record),
 * leaving room for `reserve` more (the one about to be marked ready).
 */
export async function pruneCheckpoints(ctx: CheckpointDeps, env: Environment, reserve = 0): Promise<void> {
  const keep = Math.max(0, ctx.config.dataWorkflows.checkpointsPerEnvironment - reserve);
  for (const old of await ctx.checkpoints.beyond(env.id, keep, env.restoreFrom)) {
    await ctx.seeds.removeCheckpointVolume(old.volume);
    await ctx.checkpoints.markRemoved(old.id);
    ctx.logger.info({ envId: env.id, checkpoint: old.id }, `removed checkpoint ${old.id} of ${env.name}: past the ${ctx.config.dataWorkflows.checkpointsPerEnvironment} kept (MAYFLY_CHECKPOINTS_PER_ENV)`);
  }
}

/** A checkpoint asked for through a door (POST .../checkpoints): taken while the environment is ready or asleep. */
export function checkpointHandler(ctx: WorkerContext) {
  return async (job: Job<CheckpointJobData>): Promise<string> => {
    const cp = await ctx.checkpoints.get(job.data.checkpointId);
    if (!cp || cp.status !== 'pending') return `skipped: checkpoint is ${cp?.status ?? 'gone'}`;
    const env = await ctx.store.getById(job.data.environmentId);
    if (!env || (env.status !== 'ready' && env.status !== 'sleeping')) {
      const why = `the environment is ${env?.status ?? 'gone'}; a checkpoint is taken while it is ready`;
      await ctx.checkpoints.markFailed(cp.id, why);
      if (env) await ctx.store.addEvent(env.id, 'checkpoint-failed', `checkpoint ${cp.id} was not taken: ${why}`, { checkpoint: cp.id });
      return `skipped: ${why}`;
    }
    return (await takeCheckpoint(ctx, env, cp)).message;
  };
}
