import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';

/**
 * Queue contracts shared by the API (which enqueues) and the worker (which consumes). Job ids
 * are unique per environment and deploy generation, so enqueuing twice is harmless.
 * PostgreSQL is the truth; Redis holds work in flight, and the reconciler rebuilds it.
 */
export const QUEUE_PROVISION = 'provision';
export const QUEUE_LIFECYCLE = 'lifecycle';

export interface ProvisionJobData { environmentId: string; generation: number }
export interface TeardownJobData { environmentId: string }
export interface ExpireJobData { environmentId: string; expiresAt: number }
export interface RefreshSeedJobData { dataset: string }
/** `team`: the saver's, charged with the dataset (absent in jobs queued before teams were recorded: the environment's). */
export interface SaveSnapshotJobData { environmentId: string; name: string; by: string; team?: string }
/** Removes the volumes of a deleted saved dataset (its records are `deleting`). */
export interface DeleteDatasetJobData { dataset: string; by: string }
/** Takes a checkpoint of an environment's database that the application layer recorded (pending). */
export interface CheckpointJobData { environmentId: string; checkpointId: string }
/** Takes a recorded bug capsule (pending). */
export interface CapsuleJobData { capsuleId: string }
/** Removes the volumes of deleted bug capsules (records `deleting`), then their records. */
export interface DeleteCapsuleJobData { capsuleId: string }
/** Sleep and wake (worker/jobs/sleep.ts): stop an idle environment's containers, start them again. */
export interface SleepJobData { environmentId: string }
export type LifecycleJobData = SleepJobData | TeardownJobData | ExpireJobData | RefreshSeedJobData | SaveSnapshotJobData | DeleteDatasetJobData | CheckpointJobData | CapsuleJobData | Record<string, never>;

export const JOB_PROVISION = 'provision';
export const JOB_TEARDOWN = 'teardown';
export const JOB_EXPIRE = 'expire';
export const JOB_RECONCILE = 'reconcile';
export const JOB_REFRESH_SEED = 'refresh-seed';
export const JOB_SAVE_SNAPSHOT = 'save-snapshot';
export const JOB_DELETE_DATASET = 'delete-dataset';
export const JOB_CHECKPOINT = 'checkpoint';
export const JOB_CAPSULE = 'capsule';
export const JOB_DELETE_CAPSULE = 'delete-capsule';
export const JOB_SLEEP = 'sleep';
export const JOB_WAKE = 'wake';
/** The notifier (outbox delivery and expiry warnings), scheduled like the reconciler. */
export const JOB_NOTIFY = 'notify';

export const provisionJobId = (id: string, generation: number) => `provision-${id}-${generation}`;
export const teardownJobId = (id: string) => `teardown-${id}`;
export const expireJobId = (id: string, expiresAt: number) => `expire-${id}-${expiresAt}`;
export const sleepJobId = (id: string) => `sleep-${id}`;
export const wakeJobId = (id: string) => `wake-${id}`;
export const checkpointJobId = (checkpointId: string) => `checkpoint-${checkpointId}`;
export const capsuleJobId = (capsuleId: string) => `capsule-${capsuleId}`;
export const deleteCapsuleJobId = (capsuleId: string) => `delete-capsule-${capsuleId}`;

const PROVISION_OPTS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 2000 },
  removeOnComplete: true,
  removeOnFail: true,
};
const TEARDOWN_OPTS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: true,
  removeOnFail: true,
};

export class JobQueues {
  readonly provision: Queue<ProvisionJobData>;
  readonly lifecycle: Queue<LifecycleJobData>;

  /**
   * @param onError connection errors (Redis down or restarting). Without a listener a Queue's
   * 'error' event would crash the process; ioredis reconnects by itself, and meanwhile every
   * call fails fast and its caller sees that.
   */
  constructor(connection: ConnectionOptions, prefix: string, onError: (err: Error) => void = () => undefined) {
    // Event streams are capped (BullMQ's default keeps 10,000 entries per queue): nothing reads
    // them beyond a glance, and Redis memory must stay bounded under constant churn.
    this.provision = new Queue(QUEUE_PROVISION, { connection, prefix, streams: { events: { maxLen: 1000 } } });
    this.lifecycle = new Queue(QUEUE_LIFECYCLE, { connection, prefix, streams: { events: { maxLen: 1000 } } });
    this.provision.on('error', onError);
    this.lifecycle.on('error', onError);
  }

  async enqueueProvision(environmentId: string, generation: number): Promise<void> {
    await this.provision.add(JOB_PROVISION, { environmentId, generation }, { ...PROVISION_OPTS, jobId: provisionJobId(environmentId, generation) });
  }

  async enqueueTeardown(environmentId: string): Promise<void> {
    await this.lifecycle.add(JOB_TEARDOWN, { environmentId }, { ...TEARDOWN_OPTS, jobId: teardownJobId(environmentId), priority: 1 });
  }

  /** A delayed job at the moment the lease ends; the reconciler covers a lost one. */
  async scheduleExpiry(environmentId: string, expiresAt: Date): Promise<void> {
    const at = expiresAt.getTime();
    await this.lifecycle.add(JOB_EXPIRE, { environmentId, expiresAt: at }, {
      jobId: expireJobId(environmentId, at), delay: Math.max(0, at - Date.now()), removeOnComplete: true, removeOnFail: true, attempts: 3,
    });
  }

  /**
   * Drops the delayed expiry job of a lease that will not end (the environment is gone): without
   * this, every destroyed environment leaves a delayed job in Redis until its lease would have ended.
   */
  async cancelExpiry(environmentId: string, expiresAt: Date): Promise<void> {
    await this.lifecycle.remove(expireJobId(environmentId, expiresAt.getTime()));
  }

  /** Builds a dataset's golden snapshots ahead of time (one job per dataset at a time). */
  async enqueueRefresh(dataset: string): Promise<void> {
    await this.lifecycle.add(JOB_REFRESH_SEED, { dataset }, { jobId: `refresh-${dataset}`, removeOnComplete: true, removeOnFail: true, attempts: 2 });
  }

  async enqueueSaveSnapshot(environmentId: string, name: string, by: string, team?: string): Promise<void> {
    await this.lifecycle.add(JOB_SAVE_SNAPSHOT, { environmentId, name, by, ...(team !== undefined ? { team } : {}) }, { jobId: `save-${environmentId}-${name}`, removeOnComplete: true, removeOnFail: true, attempts: 1 });
  }

  /** Removes a deleted saved dataset's volumes; retried (an engine hiccup), and the reconciler finishes what a lost job left. */
  async enqueueDeleteDataset(dataset: string, by: string): Promise<void> {
    await this.lifecycle.add(JOB_DELETE_DATASET, { dataset, by }, { jobId: `delete-dataset-${dataset}`, removeOnComplete: true, removeOnFail: true, attempts: 5, backoff: { type: 'exponential', delay: 2000 } });
  }

  /** Takes a recorded checkpoint (one job per checkpoint id); the reconciler queues a lost one again (worker/jobs/redeliver.ts). */
  async enqueueCheckpoint(environmentId: string, checkpointId: string): Promise<void> {
    await this.lifecycle.add(JOB_CHECKPOINT, { environmentId, checkpointId }, { jobId: checkpointJobId(checkpointId), removeOnComplete: true, removeOnFail: true, attempts: 2, backoff: { type: 'fixed', delay: 1000 } });
  }

  /** Takes a recorded bug capsule (one job per capsule id); the reconciler queues a lost one again. */
  async enqueueCapsule(capsuleId: string): Promise<void> {
    await this.lifecycle.add(JOB_CAPSULE, { capsuleId }, { jobId: capsuleJobId(capsuleId), removeOnComplete: true, removeOnFail: true, attempts: 2, backoff: { type: 'fixed', delay: 1000 } });
  }

  /** Removes deleted bug capsules' volumes (every one deleting); the reconciler queues a lost one again. */
  async enqueueDeleteCapsule(capsuleId: string): Promise<void> {
    await this.lifecycle.add(JOB_DELETE_CAPSULE, { capsuleId }, { jobId: deleteCapsuleJobId(capsuleId), removeOnComplete: true, removeOnFail: true, attempts: 5, backoff: { type: 'exponential', delay: 2000 } });
  }

  /** One sleep per environment at a time (the job id); the job itself checks it is still idle. */
  async enqueueSleep(environmentId: string): Promise<void> {
    await this.lifecycle.add(JOB_SLEEP, { environmentId }, { jobId: sleepJobId(environmentId), removeOnComplete: true, removeOnFail: true, attempts: 3, backoff: { type: 'fixed', delay: 1000 } });
  }

  /**
   * Wakes a sleeping environment; every request that finds it asleep calls this, and the job id
   * makes them one. Retried while a sleep of the same environment is still stopping containers.
   */
  async enqueueWake(environmentId: string): Promise<void> {
    await this.lifecycle.add(JOB_WAKE, { environmentId }, { jobId: wakeJobId(environmentId), removeOnComplete: true, removeOnFail: true, attempts: 5, backoff: { type: 'fixed', delay: 1000 }, priority: 1 });
  }

  async close(): Promise<void> {
    const results = await Promise.allSettled([this.provision.close(), this.lifecycle.close()]);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }
}
