import type { JobsOptions, Queue } from 'bullmq';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';

export interface Schedule {
  /** The job scheduler's id, also the name of the jobs it makes. */
  id: string;
  everyMs: number;
  opts: JobsOptions;
}

/**
 * Keeps BullMQ job schedulers (the reconciler, the notifier) armed. Their schedule lives in
 * Redis, and a Redis that is emptied (FLUSHALL) or replaced by an empty one loses it without any
 * error or reconnection to notice: so a timer in the worker process checks every `checkEveryMs`
 * that each scheduler exists and that its next run is not overdue, and arms it again when not
 * (upsert is idempotent; BullMQ runs a newly armed `every` job at once). The reconciler then
 * rebuilds everything else (queued work, lease expiries, teardowns) from PostgreSQL.
 */
export class ScheduleKeeper {
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  private failing = false;

  constructor(
    private readonly queue: Queue,
    private readonly schedules: readonly Schedule[],
    private readonly checkEveryMs: number,
    private readonly logger: Logger,
  ) {}

  /** Arms every scheduler (rejects when Redis does not answer), then checks them on a timer. */
  async start(): Promise<void> {
    for (const s of this.schedules) await this.arm(s);
    this.timer = setInterval(() => void this.check(), this.checkEveryMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One pass: arms what is missing or overdue. Never throws (Redis may be down: the next pass tries again). */
  async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      for (const s of this.schedules) {
        const found = await this.queue.getJobScheduler(s.id);
        // `next` is when its next job is due; one more than two periods late means that job was lost.
        const overdue = found?.next !== undefined && found.next !== null && found.next < Date.now() - 2 * s.everyMs;
        if (found && !overdue) continue;
        await this.arm(s);
        this.logger.warn({ scheduler: s.id, everyMs: s.everyMs, was: found ? 'overdue' : 'missing' },
          `the ${s.id} job scheduler was ${found ? 'overdue (its next job was lost)' : 'missing from Redis (emptied or replaced?)'}: armed again`);
      }
      if (this.failing) this.logger.info('job schedulers checked again after Redis errors');
      this.failing = false;
    } catch (err) {
      // Logged once per outage: Redis errors are reported by the queue workers too.
      if (!this.failing) this.logger.warn({ err: errorMessage(err) }, 'cannot check the job schedulers (is Redis up?); retrying every check interval');
      this.failing = true;
    } finally {
      this.checking = false;
    }
  }

  private async arm(s: Schedule): Promise<void> {
    await this.queue.upsertJobScheduler(s.id, { every: s.everyMs }, { name: s.id, data: {}, opts: s.opts });
  }
}
