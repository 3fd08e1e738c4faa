import type { Job } from 'bullmq';
import { requestDestroy } from '../../core/lifecycle.js';
import { LEASED_STATUSES } from '../../core/domain.js';
import type { ExpireJobData, TeardownJobData } from '../../core/queue.js';
import type { WorkerContext } from '../context.js';
import { wakeWaiting } from '../admission.js';

/** Removes everything labeled with the environment's id, then records it destroyed. */
export function teardownHandler(ctx: WorkerContext) {
  return async (job: Job<TeardownJobData>): Promise<string> => {
    const { environmentId } = job.data;
    const log = ctx.logger.child({ envId: environmentId, jobId: job.id });
    const env = await ctx.store.getById(environmentId);
    const started = Date.now();
    const removed = await ctx.runtime.remove(environmentId);
    if (!env || env.status !== 'destroying') {
      log.info({ removed }, 'teardown of an environment that is not destroying: removed leftovers only');
      return 'leftovers';
    }
    const ms = Date.now() - started;
    const done = await ctx.store.transition(env.id, 'destroyed', {
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
export function expireHandler(ctx: WorkerContext) {
  return async (job: Job<ExpireJobData>): Promise<string> => {
    const env = await ctx.store.getById(job.data.environmentId);
    if (!env || !LEASED_STATUSES.includes(env.status)) return 'gone';
    if (env.expiresAt.getTime() > Date.now() + 50) return 'extended';
    await requestDestroy(ctx.store, ctx.queues, env, 'expired', 'ttl');
    return 'expired';
  };
}
