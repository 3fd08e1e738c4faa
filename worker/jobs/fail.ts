import type { Environment, Status } from '../../core/domain/environment.js';
import { errorMessage } from '../../core/domain/errors.js';
import type { RunFence } from '../../core/store/environments.js';
import type { WorkerContext } from '../context.js';
import { wakeWaiting } from '../admission.js';

/** What this module uses of the worker's context (narrow: a test gives it only these). */
type Deps = Pick<WorkerContext, 'admission' | 'config' | 'environments' | 'queues' | 'runtime' | 'store'>;

export interface Failure {
  /** The status it may fail from (the guard), at the environment's generation. */
  from: Extract<Status, 'provisioning' | 'ready' | 'sleeping'>;
  code: string;
  /** What went wrong, for the tester (the recovery hint is added here). */
  message: string;
  /** Extra event data (the failing service's logs, who decided). */
  data?: Record<string, unknown>;
  /** The error behind it, for the log (its stack). */
  cause?: unknown;
}

/**
 * The one way a job fails an environment (provisioning, the reconciler, a wake): a guarded
 * transition to `failed`, then its containers and network are removed. An environment that was
 * ever ready holds a tester's data: its data volumes stay until its lease ends or it is destroyed
 * (teardown removes everything), and the failure message says how to get it back. One that never
 * was ready holds only a seed copy: everything goes. Returns false when someone else moved it first
 * (with a job run's `fence`: also when that run no longer owns it).
 */
export async function failEnvironment(ctx: Deps, env: Environment, failure: Failure, log: WorkerContext['logger'], fence?: RunFence): Promise<boolean> {
  // The decision (and what the record says) is the application layer's; the clean-up is the worker's.
  const recorded = await ctx.environments.recordFailure(env, failure, recoveryHint(ctx, env), fence);
  if (!recorded) return false;
  const { keepData } = recorded;
  log.error({ envId: env.id, name: env.name, code: failure.code, keptData: keepData, expiresAt: env.expiresAt, ...(failure.cause ? { err: failure.cause } : {}) },
    `environment failed: ${failure.message}${keepData ? ' (its data volumes are kept until its lease ends)' : ''}`);
  const removed = await ctx.runtime.remove(env.id, { keepData }).catch((err) => {
    log.warn({ envId: env.id, err: errorMessage(err) }, 'cleanup after failure did not finish; the reconciler retries it');
    return undefined;
  });
  if (removed) {
    await ctx.store.addEvent(env.id, 'cleaned',
      `removed ${removed.containers} container(s), ${removed.networks} network(s), ${removed.volumes} volume(s)${removed.kept ? `; kept ${removed.kept} data volume(s) until ${env.expiresAt.toISOString()}` : ''}`,
      { ...removed });
  }
  // Its capacity is free: the next in line start now, not at the next reconcile.
  await wakeWaiting(ctx).catch((err) => log.warn({ err }, 'could not wake waiting environments; the reconciler will'));
  return true;
}

/** What a tester can do about a failed environment whose data was kept. */
function recoveryHint(ctx: Deps, env: Environment): string {
  const api = `${ctx.config.publicUrl}/api/v1/environments/${env.name}`;
  return `Its data is kept until its lease ends (${env.expiresAt.toISOString()}): redeploy it on that data with PUT ${api} `
    + `(then save the database as a dataset if you need it longer), extend the lease with POST ${api}/extend, or destroy it`;
}
