/**
 * What a person or a token may do to an existing environment (extend, reset its data, destroy),
 * in one place for every door: REST, the web pages, Slack. Each checks that the principal may act
 * on the environment, validates, changes the record and queues the work.
 */
import type { Environment } from '../domain/environment.js';
import { parseDuration } from '../domain/duration.js';
import { ConflictError, InputError } from '../domain/errors.js';
import { assertMayManage } from './authorize.js';
import { requestDestroy } from './lifecycle.js';
import { bounded, queueDeploy } from './deploy.js';
import type { Logger } from '../platform/log.js';
import type { Principal } from '../domain/principal.js';
import type { JobQueues } from '../queue/jobs.js';
import type { EnvironmentStore } from '../store/environments.js';
import type { TemplateCatalog } from '../catalog/templates.js';

export interface ActionDeps {
  store: EnvironmentStore;
  queues: JobQueues;
  catalog: TemplateCatalog;
  logger: Logger;
}

/** The one authorization check of every door (core/app/authorize.ts). */
export { assertMayManage };

/** Moves the lease's end to `ttl` from now (a duration such as "2h"), within the template's maximum. */
export async function extendEnvironment(deps: ActionDeps, principal: Principal, env: Environment, ttl: unknown): Promise<Environment> {
  assertMayManage(principal, env);
  const seconds = parseDuration(ttl);
  const max = deps.catalog.has(env.template) ? deps.catalog.get(env.template).ttl.maxSeconds : seconds ?? 0;
  if (seconds === undefined) throw new InputError('invalid request: ttl', [{ field: 'ttl', message: 'is required: a duration such as "2h" from now' }]);
  if (seconds > max) throw new InputError('invalid request: ttl', [{ field: 'ttl', message: `is longer than the template's maximum of ${max} s` }]);
  const moved = await deps.store.extend(env.id, seconds, principal.name);
  if (!moved) throw new ConflictError('ENVIRONMENT_GONE', `environment "${env.name}" is ${env.status}; it cannot be extended`);
  // The new end is in the row; a lost expiry job is rescheduled by the reconciler.
  await bounded(deps.queues.scheduleExpiry(moved.id, moved.expiresAt)).catch(() => undefined);
  return moved;
}

/** Replaces the environment's database with a fresh clone of its seed (a new generation). */
export async function resetEnvironmentData(deps: ActionDeps, principal: Principal, env: Environment): Promise<Environment> {
  assertMayManage(principal, env);
  if (!env.seed) throw new ConflictError('NO_SEED', `environment "${env.name}" has no seed dataset to reset to`);
  const moved = await deps.store.requestReset(env.id, principal.name);
  if (!moved) throw new ConflictError('NOT_RESETTABLE', `environment "${env.name}" is ${env.status}; its database can be reset when it is ready or failed`);
  await queueDeploy(deps, moved);
  return moved;
}

/** Records who destroyed it and why, and queues the teardown. Idempotent for one already going. */
export async function destroyEnvironment(deps: ActionDeps, principal: Principal, env: Environment, reason = 'destroyed'): Promise<Environment> {
  if (env.status === 'destroyed') return env;
  assertMayManage(principal, env);
  return requestDestroy(deps.store, deps.queues, env, reason, principal.name);
}
