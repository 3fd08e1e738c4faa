import type { Environment } from '../domain/environment.js';
import type { JobQueues } from '../queue/jobs.js';
import { bounded } from './deploy.js';
import type { EnvironmentStore } from '../store/environments.js';

/**
 * Asks for an environment to go away: records why and who, then queues its teardown. Shared by
 * every door (API, TTL expiry, reconciler). Returns the environment as it now is; when it was
 * already going or gone, nothing changes (idempotent).
 */
export async function requestDestroy(
  store: EnvironmentStore, queues: JobQueues, env: Environment, reason: string, by: string,
): Promise<Environment> {
  const moved = await store.transition(env.id, 'destroying', {
    set: { destroy_reason: reason, destroyed_by: by },
    event: { type: 'destroy', message: reason === 'expired' ? 'lease expired: tearing down' : `destroy requested by ${by} (${reason})`, data: { reason, by } },
  });
  const current = moved ?? (await store.getById(env.id)) ?? env;
  // The row is the request; the queue only delivers it. When Redis does not answer, the
  // reconciler queues the teardown of a destroying environment once it is back.
  if (current.status === 'destroying') {
    await bounded(queues.enqueueTeardown(env.id)).catch(async () => {
      await store.addEvent(env.id, 'queue-unavailable', 'recorded; the job queue (Redis) did not answer, so the teardown runs when Redis is back (the reconciler queues it)').catch(() => undefined);
    });
  }
  return current;
}
