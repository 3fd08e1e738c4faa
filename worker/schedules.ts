import type { JobsOptions, Queue } from 'bullmq';
import { errorMessage } from '../core/domain/errors.js';
import type { Logger } from '../core/platform/log.js';

/** A scheduler's next job this much (or 10 periods) past due was lost, not just delayed by busy workers. */
const OVERDUE_MIN_MS = 60_000;

export interface Schedule {
  /** The job scheduler's id, also the name of the jobs it makes. */
  id: string;
  everyMs: number;
  opts: JobsOptions;
  /** Runs the duty in this process: the fallback when its jobs have not run for STALE_PERIODS. */
  direct?: () => Promise<unknown>;
}

/** A duty whose job has not run for this many periods is rebuilt in Redis and run directly. */
export const STALE_PERIODS = 4;

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
  private startedAt = Date.now();
  private readonly lastRun = new Map<string, number>();
  private readonly lastRebuilt = new Map<string, number>();

  constructor(
    private readonly queue: Queue,
    private readonly schedules: readonly Schedule[],
    private readonly checkEveryMs: number,
    private readonly logger: Logger,
  ) {}

  /** A job of the duty ran (any process's: the handler calls it, or the direct fallback). */
  ran(id: string): void {
    this.lastRun.set(id, Date.now());
  }

  /** Arms every scheduler (rejects when Redis does not answer), then checks them on a timer. */
  async start(): Promise<void> {
    this.startedAt = Date.now();
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
    // First what does not need Redis: a duty that has not run for STALE_PERIODS runs here, now.
    // Redis may hold its schedule in a state no re-arming mends (a write refused halfway through
    // one of BullMQ's scripts, when Redis was out of memory, leaves it so): PostgreSQL's lock
    // keeps this run and any scheduled one apart.
    await this.runStale();
    try {
      for (const s of this.schedules) {
        const found = await this.queue.getJobScheduler(s.id);
        // `next` is when its next job is due. Busy workers delay it a little; this late, it was lost.
        const overdue = found?.next !== undefined && found.next !== null && found.next < Date.now() - Math.max(10 * s.everyMs, OVERDUE_MIN_MS);
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

  private async runStale(): Promise<void> {
    const now = Date.now();
    for (const s of this.schedules) {
      const last = this.lastRun.get(s.id) ?? this.startedAt;
      if (now - last < STALE_PERIODS * s.everyMs + this.checkEveryMs) continue;
      // Its schedule in Redis is broken or gone: rebuilt from scratch (at most once per stale
      // span), and the duty done here meanwhile.
      if (now - (this.lastRebuilt.get(s.id) ?? 0) >= STALE_PERIODS * s.everyMs) {
        this.lastRebuilt.set(s.id, now);
        try {
          await this.queue.removeJobScheduler(s.id);
          await this.arm(s);
          this.logger.warn({ scheduler: s.id, staleMs: now - last }, `the ${s.id} duty had not run for ${Math.round((now - last) / 1000)} s: its job scheduler was rebuilt in Redis`);
        } catch (err) {
          this.logger.debug({ err: errorMessage(err), scheduler: s.id }, 'could not rebuild the job scheduler (Redis?)');
        }
      }
      if (!s.direct) continue;
      try {
        await s.direct();
        this.logger.warn({ scheduler: s.id }, `ran the ${s.id} duty from the worker's own timer (its scheduled job did not run for ${Math.round((now - last) / 1000)} s)`);
      } catch (err) {
        this.logger.warn({ err: errorMessage(err), scheduler: s.id }, `the ${s.id} duty, run from the worker's own timer, failed; next check tries again`);
      }
    }
  }

  private async arm(s: Schedule): Promise<void> {
    await this.queue.upsertJobScheduler(s.id, { every: s.everyMs }, { name: s.id, data: {}, opts: s.opts });
  }
}
