import { provisionJobId } from '../core/queue/jobs.js';
import type { WorkerContext } from './context.js';

/**
 * Capacity freed (a teardown finished, an environment failed, or the reconciler runs): the
 * provisioning jobs of waiting environments that fit now are promoted from their delayed sleep,
 * or queued again when Redis lost them. The job itself re-checks admission under the lock, so a
 * wake-up too many is harmless.
 */
export async function wakeWaiting(ctx: Pick<WorkerContext, 'admission' | 'queues'>): Promise<number> {
  let woken = 0;
  for (const { id, generation } of await ctx.admission.startable()) {
    const job = await ctx.queues.provision.getJob(provisionJobId(id, generation));
    if (!job) {
      await ctx.queues.enqueueProvision(id, generation);
      woken++;
    } else if (await job.isDelayed()) {
      await job.promote().catch(() => undefined); // it may have just woken by itself
      woken++;
    }
  }
  return woken;
}
