import { Worker, type ConnectionOptions, type RedisOptions } from 'bullmq';
import { Redis } from 'ioredis';
import {
  JOB_EXPIRE, JOB_NOTIFY, JOB_SLEEP, JOB_WAKE, type SleepJobData, JOB_RECONCILE, JOB_REFRESH_SEED, JOB_SAVE_SNAPSHOT, JOB_TEARDOWN, QUEUE_LIFECYCLE, QUEUE_PROVISION,
  type ExpireJobData, type LifecycleJobData, type ProvisionJobData, type RefreshSeedJobData, type SaveSnapshotJobData, type TeardownJobData,
} from '../core/queue.js';
import type { Job } from 'bullmq';
import type { WorkerContext } from './context.js';
import { provisionHandler } from './jobs/provision.js';
import { notify } from './jobs/notify.js';
import { reconcile } from './jobs/reconcile.js';
import { refreshSeedHandler, saveSnapshotHandler } from './jobs/seeds.js';
import { expireHandler, teardownHandler } from './jobs/teardown.js';
import { sleepHandler, wakeHandler } from './jobs/sleep.js';

/**
 * The worker's BullMQ consumers and the reconciler's job scheduler. `close()` lets running jobs
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
    const sleepJob = sleepHandler(ctx);
    const wakeJob = wakeHandler(ctx);

    const provisionWorker = new Worker<ProvisionJobData>(QUEUE_PROVISION, provision, {
      connection: this.connection, prefix, concurrency: ctx.config.workerConcurrency,
      // A worker killed mid-job leaves its job active until the lock lapses; the stall check then
      // hands it to another worker (twice at most; after that the reconciler's bounded retry).
      lockDuration: 30_000, stalledInterval: 10_000, maxStalledCount: 2,
    });
    const lifecycleWorker = new Worker<LifecycleJobData>(QUEUE_LIFECYCLE, async (job: Job<LifecycleJobData>) => {
      switch (job.name) {
        case JOB_TEARDOWN: return teardown(job as Job<TeardownJobData>);
        case JOB_EXPIRE: return expire(job as Job<ExpireJobData>);
        case JOB_RECONCILE: return reconcile(ctx).then((report) => { ctx.metrics.countReconcile(report); return report; });
        case JOB_REFRESH_SEED: return refresh(job as Job<RefreshSeedJobData>);
        case JOB_SAVE_SNAPSHOT: return save(job as Job<SaveSnapshotJobData>);
        case JOB_NOTIFY: return notify(ctx, ctx.notifications);
        case JOB_SLEEP: return sleepJob(job as Job<SleepJobData>);
        case JOB_WAKE: return wakeJob(job as Job<SleepJobData>);
        default: throw new Error(`unknown lifecycle job "${job.name}"`);
      }
    }, { connection: this.connection, prefix, concurrency: 4, lockDuration: 30_000, stalledInterval: 10_000 });

    for (const w of [provisionWorker, lifecycleWorker]) {
      w.on('failed', (job, err) => ctx.logger.warn({ jobId: job?.id, job: job?.name, envId: (job?.data as { environmentId?: string })?.environmentId, err: err.message }, 'job failed'));
      w.on('error', (err) => ctx.logger.error({ err }, 'queue worker error'));
      this.workers.push(w);
    }
    await this.armSchedulers();
    // A Redis that restarts empty loses the schedulers, and with them the reconciler that rebuilds
    // everything else from PostgreSQL: arm them again on every reconnection (upsert is idempotent).
    // (A small connection of its own: BullMQ does not expose its clients' reconnections.)
    const watch = new Redis({ ...(this.connection as RedisOptions), maxRetriesPerRequest: null, connectionName: 'mayfly-scheduler-watch' });
    watch.on('error', () => undefined); // the workers report Redis errors
    let first = true;
    watch.on('ready', () => {
      if (first) { first = false; return; }
      ctx.logger.info('Redis is back: re-arming the reconciler and notifier schedulers');
      void this.rearm();
    });
    this.watch = watch;
    await Promise.all(this.workers.map((w) => w.waitUntilReady()));
    ctx.logger.info({ concurrency: ctx.config.workerConcurrency, reconcileEveryMs: ctx.config.reconcileIntervalMs }, 'worker started');
  }

  private watch: Redis | undefined;

  /**
   * Re-arms the schedulers after a reconnection, retrying each second for a minute: the queue's
   * own connection (which fails fast, without an offline queue) may come back a moment later.
   */
  private async rearm(): Promise<void> {
    for (let attempt = 1; attempt <= 60 && this.watch; attempt++) {
      try {
        await this.armSchedulers();
        return;
      } catch (err) {
        if (attempt === 60) this.ctx.logger.warn({ err }, 'could not re-arm the job schedulers; the next reconnection tries again');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** The reconciler and the notifier, as BullMQ job schedulers. */
  private async armSchedulers(): Promise<void> {
    const { ctx } = this;
    await ctx.queues.lifecycle.upsertJobScheduler(JOB_RECONCILE, { every: ctx.config.reconcileIntervalMs }, {
      name: JOB_RECONCILE, data: {}, opts: { removeOnComplete: true, removeOnFail: 50 },
    });
    await ctx.queues.lifecycle.upsertJobScheduler(JOB_NOTIFY, { every: ctx.config.doors.notifyIntervalMs }, {
      name: JOB_NOTIFY, data: {}, opts: { removeOnComplete: true, removeOnFail: 50 },
    });
  }

  async close(): Promise<void> {
    this.watch?.disconnect();
    this.watch = undefined;
    const results = await Promise.allSettled(this.workers.map((w) => w.close()));
    for (const r of results) if (r.status === 'rejected') this.ctx.logger.error({ err: r.reason }, 'closing a queue worker failed');
  }
}
