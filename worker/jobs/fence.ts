import type { Environment, Status } from '../../core/domain/environment.js';
import type { Logger } from '../../core/platform/log.js';
import type { EnvironmentStore, RunFence, RunState } from '../../core/store/environments.js';

/**
 * Fencing: a job run may outlive its queue lock (a paused process, a partition) while the queue
 * hands the same job to another worker. Each run claims the environment when it starts (the next
 * run epoch, compare-and-set on generation and status) and, before each step that changes the
 * engine (remove, create, clone, start, stop) and after each wait that can outlast the lock (a
 * pull, a golden build, a health wait), proves that it still owns it by re-reading the row. A run
 * that lost it throws StoodDown: the job returns without a retry, writes nothing to the
 * timeline (its events are fenced in the same statement), and logs one line.
 *
 * What is left: between a check and the Docker call right after it, the engine does not see the
 * token; a pause exactly there is not covered (Docker refusing to remove a volume in use is the
 * last line for the database volume).
 */

/** This run no longer owns the environment: stop before the next side effect, without a retry. */
export class StoodDown extends Error {
  constructor(readonly step: string, readonly why: string) {
    super(`stood down before "${step}": ${why}`);
    this.name = 'StoodDown';
  }
}

export type Ownership = { owns: true } | { owns: false; why: string };

/** Pure: whether a run holding `fence` still owns the environment whose row reads `current`. */
export function judgeOwnership(fence: RunFence, current: { status: Status; generation: number; epoch: number } | undefined): Ownership {
  if (!current) return { owns: false, why: 'the environment is gone' };
  if (current.generation !== fence.generation) {
    return { owns: false, why: `the environment moved on to generation ${current.generation} (redeployed, reset or healed)` };
  }
  if (current.epoch !== fence.epoch) {
    return { owns: false, why: `another run of this job took it over (run ${current.epoch}; this is run ${fence.epoch})` };
  }
  if (!fence.statuses.includes(current.status)) return { owns: false, why: `the environment is ${current.status} now` };
  return { owns: true };
}

/**
 * Pure: whether the database volume may be replaced (its container and volume removed, the seed
 * cloned anew): only for an environment with a seed that has not been seeded in this generation.
 * Judged from the current row, never from a job's copy of it: a redeploy keeps the tester's data,
 * a reset (a new generation) clears `seededAt`.
 */
export function mayReplaceDatabase(current: Pick<Environment, 'seed' | 'seededAt'>): boolean {
  return !!current.seed && !current.seededAt;
}

export class Fence {
  private constructor(
    private readonly store: EnvironmentStore,
    readonly envId: string,
    readonly token: RunFence,
  ) {}

  /** Claims the environment for this run; undefined when it is not at this generation in one of `statuses`. */
  static async claim(store: EnvironmentStore, envId: string, generation: number, statuses: readonly Status[]): Promise<{ fence: Fence; env: Environment } | undefined> {
    const claimed = await store.claimRun(envId, generation, statuses);
    if (!claimed) return undefined;
    return { fence: new Fence(store, envId, { generation, epoch: claimed.epoch, statuses: [...statuses] }), env: claimed.env };
  }

  private judge(state: RunState | undefined): Ownership {
    return judgeOwnership(this.token, state && { status: state.env.status, generation: state.env.generation, epoch: state.epoch });
  }

  /** Re-reads the row before `step`: its current state when this run still owns it, else StoodDown. */
  async check(step: string): Promise<Environment> {
    const state = await this.store.runState(this.envId);
    const verdict = this.judge(state);
    if (!verdict.owns) throw new StoodDown(step, verdict.why);
    return state!.env;
  }

  /** Undefined while this run owns the environment, else why not (after a failure: retry, or stand down?). */
  async lost(step: string): Promise<StoodDown | undefined> {
    const verdict = this.judge(await this.store.runState(this.envId));
    return verdict.owns ? undefined : new StoodDown(step, verdict.why);
  }

  /** Appends to the timeline only while this run owns the environment (one statement); else StoodDown. */
  async event(type: string, message: string, data?: Record<string, unknown>): Promise<void> {
    if (await this.store.addEvent(this.envId, type, message, data, this.token)) return;
    throw (await this.lost(`record "${type}"`)) ?? new StoodDown(`record "${type}"`, 'the environment changed while the event was written');
  }

  /** A fenced store write (true when it held); else StoodDown for `step`. */
  async wrote(step: string, held: boolean): Promise<void> {
    if (held) return;
    throw (await this.lost(step)) ?? new StoodDown(step, 'the environment changed while it was written');
  }

  /** The one line a run that stood down logs. */
  logStoodDown(log: Logger, err: StoodDown, job: string): void {
    logStoodDown(log, { envId: this.envId, generation: this.token.generation, run: this.token.epoch }, err, job);
  }
}

/** The one line a run that stood down logs (envId, generation, the step it did not take, why). */
export function logStoodDown(log: Logger, run: { envId: string; generation: number; run?: number }, err: StoodDown, job: string): void {
  const bound = log.bindings();
  log.warn({
    ...('envId' in bound ? {} : { envId: run.envId }), ...('generation' in bound ? {} : { generation: run.generation }),
    ...(run.run !== undefined ? { run: run.run } : {}), step: err.step, why: err.why, job,
  }, `stood down: this ${job} run no longer owns the environment (${err.why}); it touched nothing from "${err.step}" on`);
}
