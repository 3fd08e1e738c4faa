import type pg from 'pg';

/**
 * One run at a time of a periodic duty (the reconciler, the notifier) across every worker
 * process, held in PostgreSQL: the duty may be started by its BullMQ job scheduler or, when Redis
 * lost or broke that schedule, by the worker's own timer (worker/schedules.ts). A run that finds
 * the duty taken skips it: another process is doing it right now.
 */
export class DutyLock {
  constructor(private readonly pool: pg.Pool) {}

  /** Runs `fn` holding the duty's lock, or returns undefined at once when another run holds it. */
  async tryRun<T>(duty: string, fn: () => Promise<T>): Promise<T | undefined> {
    const client = await this.pool.connect();
    try {
      const { rows } = await client.query('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS got', [`mayfly-duty:${duty}`]);
      if (!rows[0]?.got) return undefined;
      try {
        return await fn();
      } finally {
        await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [`mayfly-duty:${duty}`]).catch(() => undefined);
      }
    } finally {
      client.release();
    }
  }
}
