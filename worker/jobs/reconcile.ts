import { requestDestroy } from '../../core/lifecycle.js';
import { provisionJobId, teardownJobId } from '../../core/queue.js';
import type { WorkerContext } from '../context.js';
import { wakeWaiting } from '../admission.js';

export interface ReconcileReport {
  expired: number;
  requeued: number;
  teardownsRequeued: number;
  orphansRemoved: number;
  goldensRemoved: number;
}

/**
 * Converges Docker and Redis to what PostgreSQL says. Idempotent, run every few seconds:
 * - expired leases are torn down (a lost delayed job cannot make an environment immortal);
 * - queued or provisioning environments whose job Redis lost are queued again;
 * - destroying environments whose teardown job is gone are queued again;
 * - Docker objects labeled with an environment that is not live are removed;
 * - golden snapshots that nothing uses and a newer golden replaced are removed.
 */
export async function reconcile(ctx: WorkerContext): Promise<ReconcileReport> {
  const report: ReconcileReport = { expired: 0, requeued: 0, teardownsRequeued: 0, orphansRemoved: 0, goldensRemoved: 0 };
  const log = ctx.logger.child({ job: 'reconcile' });

  for (const env of await ctx.store.expired()) {
    await requestDestroy(ctx.store, ctx.queues, env, 'expired', 'ttl');
    report.expired++;
    log.info({ envId: env.id, name: env.name, expiresAt: env.expiresAt }, 'lease expired: teardown queued');
  }

  for (const env of await ctx.store.withStatus(['queued', 'provisioning'], 5)) {
    const job = await ctx.queues.provision.getJob(provisionJobId(env.id, env.generation));
    if (!job) {
      await ctx.queues.enqueueProvision(env.id, env.generation);
      await ctx.store.addEvent(env.id, 'requeued', 'its provisioning job was lost; queued again');
      report.requeued++;
      log.warn({ envId: env.id, status: env.status }, 'provision job missing: queued again');
    }
  }

  for (const env of await ctx.store.withStatus(['destroying'], 5)) {
    const job = await ctx.queues.lifecycle.getJob(teardownJobId(env.id));
    if (!job) {
      await ctx.queues.enqueueTeardown(env.id);
      report.teardownsRequeued++;
      log.warn({ envId: env.id }, 'teardown job missing: queued again');
    }
  }

  const owned = await ctx.runtime.listOwned();
  const ids = [...new Set([...owned.containers, ...owned.networks, ...owned.volumes].map((o) => o.envId))]
    .filter((id) => /^[0-9a-f-]{36}$/.test(id));
  const live = await ctx.store.liveIds(ids);
  for (const id of ids) {
    if (live.has(id)) continue;
    const removed = await ctx.runtime.remove(id);
    const n = removed.containers + removed.networks + removed.volumes;
    report.orphansRemoved += n;
    if (n) log.warn({ envId: id, removed }, 'removed Docker objects of an environment that is not live');
  }
  report.goldensRemoved = await ctx.seeds.collectGarbage();
  await wakeWaiting(ctx); // environments waiting in line that fit now (a safety net for lost wake-ups)
  return report;
}
