import type { Environment } from './domain.js';
import type { JobQueues } from './queue.js';
import type { EnvironmentStore } from './store/environments.js';

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
  if (current.status === 'destroying') await queues.enqueueTeardown(env.id);
  return current;
}
