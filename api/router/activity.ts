import type { Logger } from '../../core/platform/log.js';
import type { EnvironmentStore } from '../../core/store/environments.js';

/**
 * Traffic through the router, per environment: kept in memory (a Map write per request) and
 * written to PostgreSQL (`last_activity_at`) every few seconds in one statement, so proxying never
 * waits for the database. The reconciler reads it to put idle environments to sleep.
 */
export class ActivityRecorder {
  private pending = new Map<string, Date>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly store: EnvironmentStore, private readonly logger: Logger, flushMs: number) {
    this.timer = setInterval(() => { void this.flush(); }, flushMs);
    this.timer.unref();
  }

  touch(environmentId: string): void {
    this.pending.set(environmentId, new Date());
  }

  /** Writes what was seen since the last flush; a failed write is merged back for the next one. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (!this.pending.size) return;
      const batch = this.pending;
      this.pending = new Map();
      try {
        await this.store.recordActivity(batch);
      } catch (err) {
        this.logger.warn({ err, environments: batch.size }, 'recording router activity failed; retrying with the next flush');
        for (const [id, at] of batch) if (!this.pending.has(id)) this.pending.set(id, at);
      }
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
