import { setTimeout as sleep } from 'node:timers/promises';
import type { Environment } from './domain.js';
import { ConflictError } from './errors.js';
import type { Logger } from './log.js';
import type { JobQueues } from './queue.js';
import type { EnvironmentStore, NewEnvironment, UpsertAction } from './store/environments.js';

/**
 * Create-or-redeploy for the doors other than the REST routes (Slack, the GitHub webhook): the
 * same PUT semantics (store.upsert), then the provisioning job and the lease's end are queued.
 * A name being torn down is waited for up to `waitDestroyingMs`, then refused with
 * ENVIRONMENT_DESTROYING (doors with a short answer deadline pass a short wait).
 */
export async function deployEnvironment(
  deps: { store: EnvironmentStore; queues: JobQueues; logger: Logger },
  input: NewEnvironment,
  opts: { ttlGiven: boolean; forceRedeploy?: boolean; waitDestroyingMs?: number },
): Promise<{ env: Environment; action: UpsertAction }> {
  const deadline = Date.now() + (opts.waitDestroyingMs ?? 0);
  let result: { env: Environment; action: UpsertAction };
  for (;;) {
    try {
      result = await deps.store.upsert(input, { ttlGiven: opts.ttlGiven, ...(opts.forceRedeploy ? { forceRedeploy: true } : {}) });
      break;
    } catch (err) {
      if (err instanceof ConflictError && err.code === 'ENVIRONMENT_DESTROYING' && Date.now() < deadline) {
        await sleep(300);
        continue;
      }
      throw err;
    }
  }
  const { env, action } = result;
  try {
    if (action !== 'unchanged') await deps.queues.enqueueProvision(env.id, env.generation);
    if (action !== 'unchanged' || opts.ttlGiven) await deps.queues.scheduleExpiry(env.id, env.expiresAt);
  } catch (err) {
    // Recorded in PostgreSQL already: the reconciler queues it once Redis answers again.
    deps.logger.warn({ err, envId: env.id }, 'could not queue provisioning; the reconciler will');
    await deps.store.addEvent(env.id, 'queue-unavailable', 'the job queue did not answer; the reconciler will queue this environment').catch(() => undefined);
  }
  return result;
}
