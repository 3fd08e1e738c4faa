import { setTimeout as sleep } from 'node:timers/promises';
import type { Environment } from './domain.js';
import { ConflictError } from './errors.js';
import { assertMayManage } from './authorize.js';
import type { Logger } from './log.js';
import type { Principal } from './principal.js';
import type { JobQueues } from './queue.js';
import type { EnvironmentStore, NewEnvironment, UpsertAction } from './store/environments.js';

/**
 * Create-or-redeploy for every door (REST, Slack, the GitHub webhook): PUT semantics
 * (store.upsert), then the provisioning job and the lease's end are queued.
 * A name being torn down is waited for up to `waitDestroyingMs`, then refused with
 * ENVIRONMENT_DESTROYING (doors with a short answer deadline pass a short wait).
 * With a `principal`, a new environment records its team, and an existing one of another team
 * is refused (403 FORBIDDEN) before anything changes.
 */
export async function deployEnvironment(
  deps: { store: EnvironmentStore; queues: JobQueues; logger: Logger },
  input: NewEnvironment,
  opts: { ttlGiven: boolean; forceRedeploy?: boolean; createOnly?: boolean; waitDestroyingMs?: number; principal?: Principal },
): Promise<{ env: Environment; action: UpsertAction }> {
  const deadline = Date.now() + (opts.waitDestroyingMs ?? 0);
  let result: { env: Environment; action: UpsertAction };
  for (;;) {
    try {
      const principal = opts.principal;
      result = await deps.store.upsert(principal ? { ...input, team: input.team ?? principal.team } : input, {
        ...(principal ? { authorize: (existing: Environment) => assertMayManage(principal, existing) } : {}),
        ttlGiven: opts.ttlGiven, ...(opts.forceRedeploy ? { forceRedeploy: true } : {}), ...(opts.createOnly ? { createOnly: true } : {}),
      });
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
  if (action !== 'unchanged') await queueDeploy(deps, env);
  else if (opts.ttlGiven) await deps.queues.scheduleExpiry(env.id, env.expiresAt).catch(() => undefined);
  return result;
}

/**
 * Queues the provisioning job of an environment's current generation and its lease's end. When
 * Redis does not answer, the environment is recorded already: the reconciler queues it later.
 */
export async function queueDeploy(deps: { store: EnvironmentStore; queues: JobQueues; logger: Logger }, env: Environment): Promise<void> {
  try {
    await deps.queues.enqueueProvision(env.id, env.generation);
    await deps.queues.scheduleExpiry(env.id, env.expiresAt);
  } catch (err) {
    deps.logger.warn({ err, envId: env.id }, 'could not queue provisioning; the reconciler will');
    await deps.store.addEvent(env.id, 'queue-unavailable', 'the job queue did not answer; the reconciler will queue this environment').catch(() => undefined);
  }
}
