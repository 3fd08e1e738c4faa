import type { Environment } from '../domain/environment.js';
import type { Logger } from '../platform/log.js';
import type { JobQueues } from '../queue/jobs.js';
import type { EnvironmentStore } from '../store/environments.js';

/** How long a producer waits for Redis before the API answers 503 (the request stays recorded). */
export const QUEUE_BOUND_MS = 2000;

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
