import pg from 'pg';
import type { Logger } from '../platform/log.js';
import { migrate } from './migrations.js';

export interface PoolOptions {
  /** Connections in the pool. */
  size: number;
  /** Open every connection now and keep them (the web process: a burst after a quiet spell waits on none). */
  warm?: boolean;
  /** What a lost idle connection does; by default it is logged (a test that stops PostgreSQL passes a no-op). */
  onIdleError?: (err: Error) => void;
}

/**
 * Opens a process's PostgreSQL pool and brings the schema up to date (core/store/migrations.ts):
 * the same for the web process, the worker, the test harness and the benchmarks.
 */
export async function openDatabase(databaseUrl: string, logger: Logger, opts: PoolOptions): Promise<pg.Pool> {
  // Warm: a fixed-size pool, opened at start (HikariCP's advice). With pg's defaults (grow on
  // demand, close after 10 s idle), a burst after a quiet spell opened up to 20 connections at
  // once, and their start-up (a backend each, SCRAM) stalled requests for about half a second.
  const pool = new pg.Pool(opts.warm
    ? { connectionString: databaseUrl, max: opts.size, min: opts.size, idleTimeoutMillis: 300_000 }
    : { connectionString: databaseUrl, max: opts.size });
  pool.on('error', opts.onIdleError ?? ((err) => logger.error({ err }, 'postgres pool error: an idle connection was lost; the next query opens a new one')));
  // A connection lost while checked out (a lock holder or a transaction between two queries) emits
  // 'error' on its client, which the pool listens to only while the client is idle: unhandled,
  // that killed the process when PostgreSQL went away. Its next query fails and is retried as usual.
  pool.on('connect', (client) => {
    client.on('error', (err) => logger.warn({ err }, 'postgres connection lost while in use; the statement on it fails and is retried'));
  });
  if (opts.warm) await Promise.all(Array.from({ length: opts.size }, () => pool.query('SELECT 1')));
  await migrate(pool);
  return pool;
}
