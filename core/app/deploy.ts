import { setTimeout as sleep } from 'node:timers/promises';
import type { Admission } from './admission.js';
import type { Environment } from '../domain/environment.js';
import { ConflictError } from '../domain/errors.js';
import { assertMayManage } from './authorize.js';
import type { Logger } from '../platform/log.js';
import type { Principal } from '../domain/principal.js';
import type { JobQueues } from '../queue/jobs.js';
import type { EnvironmentStore, NewEnvironment, UpsertAction } from '../store/environments.js';

/** How long a producer waits for Redis before the API answers 503 (the request stays recorded). */
export const QUEUE_BOUND_MS = 2000;

/**
 * Create-or-redeploy for every door (REST, Slack, the GitHub webhook): PUT semantics
 * (store.upsert), then the provisioning job and the lease's end are queued.
 * A name being torn down is waited for up to `waitDestroyingMs`, then refused with
 * ENVIRONMENT_DESTROYING (doors with a short answer deadline pass a short wait).
 * With a `principal`, a new environment records its team, and an existing one of another team
 * is refused (403 FORBIDDEN) before anything changes.
 * With `noQueue`, a request past an admission limit is refused (CapacityError, 429) and nothing
 * is created; otherwise it waits in line (see core/app/admission.ts).
 */
export async function deployEnvironment(
  deps: { store: EnvironmentStore; queues: JobQueues; logger: Logger; admission?: Admission },
  input: NewEnvironment,
  opts: { ttlGiven: boolean; forceRedeploy?: boolean; createOnly?: boolean; waitDestroyingMs?: number; principal?: Principal; noQueue?: boolean },
): Promise<{ env: Environment; action: UpsertAction; delivery: Delivery }> {
  deps.admission?.assertCanEverFit(input.template);
  const admission = opts.noQueue && deps.admission?.limited ? deps.admission : undefined;
  const deadline = Date.now() + (opts.waitDestroyingMs ?? 0);
  let result: { env: Environment; action: UpsertAction };
  for (;;) {
    try {
      const principal = opts.principal;
      result = await deps.store.upsert(principal ? { ...input, team: input.team ?? principal.team } : input, {
        ...(principal ? { authorize: (existing: Environment) => assertMayManage(principal, existing) } : {}),
        ttlGiven: opts.ttlGiven, ...(opts.forceRedeploy ? { forceRedeploy: true } : {}), ...(opts.createOnly ? { createOnly: true } : {}),
        ...(admission ? { admit: (client, envId) => admission.startNowOrRefuse(client, envId) } : {}),
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
  let delivery: Delivery = 'queued';
  if (action !== 'unchanged') delivery = await queueDeploy(deps, env);
  else if (opts.ttlGiven) await bounded(deps.queues.scheduleExpiry(env.id, env.expiresAt)).catch(() => undefined);
  return { ...result, delivery };
}

/**
 * How the work of an accepted request reaches a worker. The PostgreSQL row is the request (an
 * outbox); the queue only delivers it. 'deferred': Redis did not answer within QUEUE_BOUND_MS, and
 * the reconciler queues the work from the row once Redis is back. Either way the request stands.
 */
export type Delivery = 'queued' | 'deferred';

/** Rejects when `work` has not settled within QUEUE_BOUND_MS (the work itself may still finish). */
export function bounded<T>(work: Promise<T>, ms = QUEUE_BOUND_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the job queue did not answer within ${ms} ms`)), ms);
  });
  work.catch(() => undefined); // a late failure after the timeout is not unhandled
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Queues the provisioning job of an environment's current generation and its lease's end. When
 * Redis does not answer within QUEUE_BOUND_MS, the environment is recorded already: the timeline
 * says the work waits for Redis, and the reconciler queues it when Redis is back. Never throws
 * for Redis: the request was accepted when its row was written.
 */
export async function queueDeploy(deps: { store: EnvironmentStore; queues: JobQueues; logger: Logger }, env: Environment): Promise<Delivery> {
  try {
    await bounded((async () => {
      await deps.queues.enqueueProvision(env.id, env.generation);
      await deps.queues.scheduleExpiry(env.id, env.expiresAt);
    })());
    return 'queued';
  } catch (err) {
    deps.logger.warn({ err, envId: env.id }, `could not queue provisioning of ${env.name}: Redis did not answer; it is recorded and the reconciler queues it when Redis is back`);
    await deps.store.addEvent(env.id, 'queue-unavailable', 'recorded; the job queue (Redis) did not answer, so it starts when Redis is back (the reconciler queues it)').catch(() => undefined);
    return 'deferred';
  }
}
