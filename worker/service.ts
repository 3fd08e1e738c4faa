import { Worker, type ConnectionOptions } from 'bullmq';
import {
  JOB_EXPIRE, JOB_NOTIFY, JOB_SLEEP, JOB_WAKE, type SleepJobData, JOB_RECONCILE, JOB_REFRESH_SEED, JOB_SAVE_SNAPSHOT, JOB_DELETE_DATASET, type DeleteDatasetJobData, JOB_CHECKPOINT, type CheckpointJobData, JOB_CAPSULE, type CapsuleJobData, JOB_DELETE_CAPSULE, type DeleteCapsuleJobData, JOB_TEARDOWN, QUEUE_LIFECYCLE, QUEUE_PROVISION,
  type ExpireJobData, type LifecycleJobData, type ProvisionJobData, type RefreshSeedJobData, type SaveSnapshotJobData, type TeardownJobData,
} from '../core/queue/jobs.js';
import type { Job } from 'bullmq';
import type { WorkerContext } from './context.js';
import { provisionHandler } from './jobs/provision.js';
import { notify } from './jobs/notify.js';
import { reconcile } from './jobs/reconcile.js';
import { checkpointHandler } from './jobs/checkpoints.js';
import { capsuleHandler, deleteCapsuleHandler } from './jobs/capsules.js';
import { deleteDatasetHandler, refreshSeedHandler, saveSnapshotHandler } from './jobs/seeds.js';
import { expireHandler, teardownHandler } from './jobs/teardown.js';
import { sleepHandler, wakeHandler } from './jobs/sleep.js';
import { ScheduleKeeper } from './schedules.js';
import { OutageLog } from '../core/queue/outage-log.js';

/**
 * The worker's BullMQ consumers and the job schedulers of the reconciler and the notifier (kept
 * armed by a ScheduleKeeper). `close()` lets running jobs
 * finish (a SIGTERM mid-job finishes or hands back its job) and runs every cleanup even when
 * one fails.
 */
export class WorkerService {
  private readonly workers: Worker[] = [];

  constructor(private readonly ctx: WorkerContext, private readonly connection: ConnectionOptions) {}

  async start(): Promise<void> {
    const { ctx } = this;
    const prefix = ctx.config.queuePrefix;
    const provision = provisionHandler(ctx);
    const teardown = teardownHandler(ctx);
    const expire = expireHandler(ctx);
    const refresh = refreshSeedHandler(ctx);
    const save = saveSnapshotHandler(ctx);
    const checkpoint = checkpointHandler(ctx);
    const capsule = capsuleHandler(ctx);
    const deleteCapsule = deleteCapsuleHandler(ctx);
    const deleteDataset = deleteDatasetHandler(ctx);
    const sleepJob = sleepHandler(ctx);
    const wakeJob = wakeHandler(ctx);
    // MAYFLY_JOB_LOCK (30 s by default); the stall check looks at least once per lock period.
    const lockDuration = ctx.config.jobLockMs;
    const stalledInterval = Math.min(10_000, lockDuration);

    // The periodic duties, one run at a time across worker processes (PostgreSQL's lock), whether
    // their job scheduler started them or the keeper's fallback did.
    const runReconcile = () => ctx.duties.tryRun(JOB_RECONCILE, async () => {
      const report = await reconcile(ctx);
      ctx.metrics.countReconcile(report);
      // The warm pool fills and drains in the background after each reconcile (worker/jobs/pool.ts).
      ctx.pool?.tick(ctx);
      return report;
    }).finally(() => this.keeper?.ran(JOB_RECONCILE));
    const runNotify = () => ctx.duties.tryRun(JOB_NOTIFY, () => notify(ctx, ctx.notifications)).finally(() => this.keeper?.ran(JOB_NOTIFY));

    const provisionWorker = new Worker<ProvisionJobData>(QUEUE_PROVISION, provision, {
      connection: this.connection, prefix, concurrency: ctx.config.workerConcurrency,
      // A worker killed mid-job leaves its job active until the lock lapses; the stall check then
      // hands it to another worker (twice at most; after that the reconciler's bounded retry).
      // A worker that was only paused wakes up to a job it no longer holds: its fence stands it down.
      lockDuration, stalledInterval, maxStalledCount: 2,
    });
    const lifecycleWorker = new Worker<LifecycleJobData>(QUEUE_LIFECYCLE, async (job: Job<LifecycleJobData>) => {
      switch (job.name) {
        case JOB_TEARDOWN: return teardown(job as Job<TeardownJobData>);
        case JOB_EXPIRE: return expire(job as Job<ExpireJobData>);
        case JOB_RECONCILE: return runReconcile();
        case JOB_REFRESH_SEED: return refresh(job as Job<RefreshSeedJobData>);
        case JOB_SAVE_SNAPSHOT: return save(job as Job<SaveSnapshotJobData>);
        case JOB_CHECKPOINT: return checkpoint(job as Job<CheckpointJobData>);
        case JOB_CAPSULE: return capsule(job as Job<CapsuleJobData>);
        case JOB_DELETE_CAPSULE: return deleteCapsule(job as Job<DeleteCapsuleJobData>);
        case JOB_DELETE_DATASET: return deleteDataset(job as Job<DeleteDatasetJobData>);
        case JOB_NOTIFY: return runNotify();
        case JOB_SLEEP: return sleepJob(job as Job<SleepJobData>);
        case JOB_WAKE: return wakeJob(job as Job<SleepJobData>);
        default: throw new Error(`unknown lifecycle job "${job.name}"`);
      }
    }, { connection: this.connection, prefix, concurrency: 4, lockDuration, stalledInterval });

    // Redis errors are logged once per outage with a count, never once per attempt (an OOM
    // Redis once made 35,500 lines in 6 s); a job that runs again means Redis answers.
    this.redisOutage = new OutageLog(ctx.logger, 'Redis (the job queue)');
    for (const w of [provisionWorker, lifecycleWorker]) {
      w.on('failed', (job, err) => ctx.logger.warn({ jobId: job?.id, job: job?.name, envId: (job?.data as { environmentId?: string })?.environmentId, err: err.message }, 'job failed'));
      w.on('error', (err) => {
        // A job's lock lost or its keys gone (a paused run, a job taken by another worker) is
        // about that job, not Redis being down: logged as such, once per event.
        if (/could not renew lock|missing (key|lock) for job/i.test(err.message)) ctx.logger.warn({ err: err.message }, 'a job lost its lock or keys (another worker may have taken it over)');
        else this.redisOutage!.error(err);
      });
      w.on('active', () => this.redisOutage?.ok());
      this.workers.push(w);
    }
    // The reconciler's schedule must not live only in Redis: a timer here arms the schedulers
    // again whenever Redis lost them (emptied, replaced, restarted), within one reconcile interval.
    this.keeper = new ScheduleKeeper(ctx.queues.lifecycle, [
      { id: JOB_RECONCILE, everyMs: ctx.config.reconcileIntervalMs, opts: { removeOnComplete: true, removeOnFail: 50 }, direct: runReconcile },
      { id: JOB_NOTIFY, everyMs: ctx.config.doors.notifyIntervalMs, opts: { removeOnComplete: true, removeOnFail: 50 }, direct: runNotify },
    ], ctx.config.reconcileIntervalMs, ctx.logger);
    await this.keeper.start();
    await Promise.all(this.workers.map((w) => w.waitUntilReady()));
    ctx.logger.info({ concurrency: ctx.config.workerConcurrency, reconcileEveryMs: ctx.config.reconcileIntervalMs }, 'worker started');
  }

  private keeper: ScheduleKeeper | undefined;
  private redisOutage: OutageLog | undefined;

  async close(): Promise<void> {
    this.keeper?.stop();
    this.keeper = undefined;
    this.redisOutage?.stop();
    const results = await Promise.allSettled(this.workers.map((w) => w.close()));
    for (const r of results) if (r.status === 'rejected') this.ctx.logger.error({ err: r.reason }, 'closing a queue worker failed');
  }
}
