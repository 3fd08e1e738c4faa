import type { Status } from './environment.js';

/**
 * What the reconciler does with data work that PostgreSQL records as unfinished while no live job
 * in Redis will finish it (docs/faults-and-recovery.md): a checkpoint or bug capsule left
 * `pending`, or a capsule left `deleting`, because Redis lost the job (FLUSHALL, a restart without
 * persistence) or its worker died past BullMQ's stall limit. Pure: the reconciler looks up the
 * record, its environment and its job, and carries the decision out.
 */
export type DataWork = 'checkpoint' | 'capsule' | 'capsule-delete';

/** Times the reconciler queues one piece of data work again before it gives up on it. */
export const MAX_DATA_REDELIVERIES = 3;

export interface RedeliveryInput {
  work: DataWork;
  /** The status of the environment it is of; undefined when there is no such environment (any more). Not used for deletes. */
  envStatus: Status | undefined;
  /** How often the reconciler queued it again already. */
  redeliveries: number;
  /**
   * A checkpoint taken before a redeploy, reset or rewind (not on request): its provisioning takes
   * it first, so once the environment is ready again, the data it was to keep is gone.
   */
  automatic?: boolean;
  max?: number;
}

export type RedeliveryDecision =
  /** Queue its job again (the `attempt`-th time of `max`). */
  | { action: 'requeue'; attempt: number; max: number }
  /** Leave it: other work finishes it (a checkpoint of an environment being provisioned is taken by that provisioning). */
  | { action: 'wait'; why: string }
  /** Record it failed with `why` (a sentence a person understands, with what to do next). */
  | { action: 'fail'; why: string };

const WHAT: Record<DataWork, string> = { checkpoint: 'checkpoint', capsule: 'bug capsule', 'capsule-delete': 'deletion' };

export function decideRedelivery(input: RedeliveryInput): RedeliveryDecision {
  const max = input.max ?? MAX_DATA_REDELIVERIES;
  const { work, envStatus } = input;
  if (work !== 'capsule-delete') {
    const retake = work === 'checkpoint' ? 'take a new checkpoint' : 'take a new bug capsule';
    if (envStatus === undefined || envStatus === 'destroyed' || envStatus === 'destroying') {
      return { action: 'fail', why: `its environment was destroyed before the ${WHAT[work]} was taken (its job was lost); there is no database left to copy` };
    }
    if (envStatus === 'failed') {
      return { action: 'fail', why: `its environment failed before the ${WHAT[work]} was taken (its job was lost); redeploy it, then ${retake}` };
    }
    if (envStatus === 'queued' || envStatus === 'provisioning') {
      // A redeploy's provisioning takes every pending checkpoint of the environment first.
      if (work === 'checkpoint') return { action: 'wait', why: 'the environment is being provisioned, which takes its pending checkpoints first' };
      return { action: 'fail', why: `its environment is being redeployed (${envStatus}) and its job was lost; a bug capsule is taken while the environment is ready: ${retake} once it is ready again` };
    }
    if (work === 'checkpoint' && input.automatic) {
      // Taken now it would hold the data after the redeploy, under a reason that says before.
      return { action: 'fail', why: 'the provisioning it was to precede went ahead without it (its job was lost), so the data it was to keep is gone; take a new checkpoint of what the environment holds now' };
    }
  }
  if (input.redeliveries < max) return { action: 'requeue', attempt: input.redeliveries + 1, max };
  const done = work === 'capsule-delete' ? 'finishing' : 'being taken';
  const next = work === 'checkpoint' ? 'take a new checkpoint' : work === 'capsule' ? 'take a new bug capsule' : 'delete it again';
  return { action: 'fail', why: `its job was queued ${max + 1} times without ${done} (its worker died or Redis lost the job each time); giving up: ${next}` };
}
