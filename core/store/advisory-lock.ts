import type pg from 'pg';

/**
 * Runs `fn` holding a PostgreSQL advisory lock on `key`, on one connection of `pool`. With
 * `wait`, waits for the lock; without, returns undefined at once when another session holds it.
 */
export async function withAdvisoryLock<T>(pool: pg.Pool, key: string, wait: boolean, fn: () => Promise<T>): Promise<T | undefined> {
  const client = await pool.connect();
  try {
    if (wait) await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [key]);
    else if (!(await client.query('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS got', [key])).rows[0]?.got) return undefined;
    try {
      return await fn();
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]).catch(() => undefined);
    }
  } finally {
    client.release();
  }
}

/**
 * One run at a time of a periodic duty (the reconciler, the notifier) across every worker
 * process, held in PostgreSQL: the duty may be started by its BullMQ job scheduler or, when Redis
 * lost or broke that schedule, by the worker's own timer (worker/schedules.ts). A run that finds
 * the duty taken skips it: another process is doing it right now.
 */
export class DutyLock {
  constructor(private readonly pool: pg.Pool) {}

  /** Runs `fn` holding the duty's lock, or returns undefined at once when another run holds it. */
  tryRun<T>(duty: string, fn: () => Promise<T>): Promise<T | undefined> {
    return withAdvisoryLock(this.pool, `mayfly-duty:${duty}`, false, fn);
  }
}
