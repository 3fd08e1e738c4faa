import type { Job } from 'bullmq';
import { LEASED_STATUSES } from '../../core/domain/environment.js';
import type { ExpireJobData, TeardownJobData } from '../../core/queue/jobs.js';
import type { WorkerContext } from '../context.js';
import { wakeWaiting } from '../admission.js';
import { Fence, StoodDown } from './fence.js';

/** What this module uses of the worker's context (narrow: a test gives it only these). */
type Deps = Pick<WorkerContext, 'admission' | 'environments' | 'logger' | 'metrics' | 'queues' | 'runtime' | 'store' | 'checkpoints'>;

/**
 * Removes everything labeled with the environment's id, then records it destroyed. The run claims
 * the destroying environment first (fence.ts) and proves it still owns it before removing
 * anything: a run that outlived its queue lock while another worker took the job stands down.
 */
export function teardownHandler(ctx: Deps) {
  return async (job: Job<TeardownJobData>): Promise<string> => {
    const { environmentId } = job.data;
    const log = ctx.logger.child({ envId: environmentId, jobId: job.id });
    const env = await ctx.store.getById(environmentId);
    if (!env || env.status === 'destroyed') {
      const removed = await ctx.runtime.remove(environmentId);
      log.info({ removed }, 'teardown of an environment that is gone: removed leftovers only');
      return 'leftovers';
    }
    // A live environment that is not being destroyed is not this job's to touch.
    if (env.status !== 'destroying') return `skipped: status ${env.status}`;
    const claimed = await Fence.claim(ctx.store, env.id, env.generation, ['destroying']);
    if (!claimed) return 'superseded';
    const { fence } = claimed;
    const started = Date.now();
    let removed;
    try {
      await fence.check('remove its containers, networks and volumes');
      removed = await ctx.runtime.remove(environmentId);
      // Its checkpoints' volumes carry its label and went with the rest.
      await ctx.checkpoints.removeAll(environmentId);
    } catch (err) {
      const stood = err instanceof StoodDown ? err : await fence.lost('handle a failed removal');
      if (!stood) throw err;
      fence.logStoodDown(log, stood, 'teardown');
      return 'stood down';
    }
    const ms = Date.now() - started;
    const done = await ctx.store.transition(env.id, 'destroyed', {
      fence: fence.token,
      set: { destroyed_at: new Date() },
      event: {
        type: 'destroyed',
        message: `destroyed (${env.destroyReason ?? 'destroyed'}${env.destroyedBy ? ` by ${env.destroyedBy}` : ''}): removed ${removed.containers} container(s), ${removed.networks} network(s), ${removed.volumes} volume(s) in ${ms} ms`,
        data: { ...removed, ms, reason: env.destroyReason },
      },
    });
    if (done) {
      const reason = env.destroyReason ?? 'destroyed';
      ctx.metrics.observeTeardown(reason, ms, reason === 'expired' ? Date.now() - env.expiresAt.getTime() : undefined);
    }
    log.info({ removed, ms, reason: env.destroyReason }, done ? 'environment destroyed' : 'environment already destroyed');
    await ctx.queues.cancelExpiry(env.id, env.expiresAt).catch(() => undefined);
    // Its capacity is free: the next in line start now, not at the next reconcile.
    await wakeWaiting(ctx).catch((err) => log.warn({ err }, 'could not wake waiting environments; the reconciler will'));
    return 'destroyed';
  };
}

/** Fires when a lease ends; does nothing when the lease was extended meanwhile. */
export function expireHandler(ctx: Deps) {
  return async (job: Job<ExpireJobData>): Promise<string> => {
    const env = await ctx.store.getById(job.data.environmentId);
    if (!env || !LEASED_STATUSES.includes(env.status)) return 'gone';
    if (env.expiresAt.getTime() > Date.now() + 50) return 'extended';
    await ctx.environments.expire(env);
    return 'expired';
  };
}
