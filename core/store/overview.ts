/**
 * Read-only queries for the pages that show the whole installation (the overview page) and an
 * environment's timeline in part: aggregates over the environments and environment_events
 * tables. Nothing here writes.
 */
import type pg from 'pg';
import type { EnvironmentEvent, Status } from '../domain/environment.js';

export interface CapacityRow {
  owner: string;
  team: string;
  template: string;
  status: Status;
  holdsCapacity: boolean;
  count: number;
}

export interface WaitingRow {
  id: string;
  name: string;
  owner: string;
  team: string;
  template: string;
  queuedAt: Date;
  waitingReason: string | null;
}

export interface FailureRow {
  name: string;
  owner: string;
  team: string;
  template: string;
  at: Date;
  code: string | null;
  message: string;
  /** The environment's status now (it may have been destroyed or redeployed since). */
  status: Status;
}

/** One hour of the last 24: its start, and what happened in it. */
export interface HourRow {
  start: Date;
  /** Environments ready at the end of the hour (or now, for the current hour). */
  running: number;
  /** Environments that became ready in the hour, and their median and longest request-to-ready time. */
  readied: number;
  medianReadySeconds: number | null;
  maxReadySeconds: number | null;
  failures: number;
}

const toEvent = (r: Record<string, any>): EnvironmentEvent => ({
  id: Number(r.id), environmentId: r.environment_id, at: r.at, type: r.type, status: r.status, message: r.message, data: r.data,
});

export class OverviewStore {
  constructor(private readonly pool: pg.Pool) {}

  /** Environments not destroyed, counted by owner, team, template and status. */
  async capacity(): Promise<CapacityRow[]> {
    const { rows } = await this.pool.query(
      `SELECT owner, team, template, status, holds_capacity, count(*)::int AS n FROM environments
       WHERE status <> 'destroyed' GROUP BY owner, team, template, status, holds_capacity ORDER BY owner, template`);
    return rows.map((r) => ({ owner: r.owner, team: r.team, template: r.template, status: r.status, holdsCapacity: r.holds_capacity, count: r.n }));
  }

  /** Environments waiting to start, in line order (the order admission takes them). */
  async waiting(limit = 100): Promise<WaitingRow[]> {
    const { rows } = await this.pool.query(
      `SELECT id, name, owner, team, template, COALESCE(queued_at, created_at) AS queued_at, waiting_reason FROM environments
       WHERE status = 'queued' ORDER BY queued_at NULLS LAST, id LIMIT $1`, [limit]);
    return rows.map((r) => ({ id: r.id, name: r.name, owner: r.owner, team: r.team, template: r.template, queuedAt: r.queued_at, waitingReason: r.waiting_reason }));
  }

  /** Failures recorded since `since`, newest first, with the reason their event gave. */
  async failures(since: Date, limit = 20): Promise<FailureRow[]> {
    const { rows } = await this.pool.query(
      `SELECT e.at, e.message, e.data->>'code' AS code, v.name, v.owner, v.team, v.template, v.status
       FROM environment_events e JOIN environments v ON v.id = e.environment_id
       WHERE e.type = 'failed' AND e.at >= $1 ORDER BY e.at DESC, e.id DESC LIMIT $2`, [since, limit]);
    return rows.map((r) => ({ name: r.name, owner: r.owner, team: r.team, template: r.template, at: r.at, code: r.code, message: r.message, status: r.status }));
  }

  /**
   * The last `hours` hours, one row per hour (oldest first): environments running at the end of
   * each, request-to-ready times of those that became ready in it, and failures in it.
   * "Running": it had become ready (its latest ready_at) and no event had moved it to failed,
   * destroying or destroyed since, by the end of the hour.
   */
  async hourly(hours = 24): Promise<HourRow[]> {
    const { rows } = await this.pool.query(
      `WITH hours AS (
         SELECT generate_series(date_trunc('hour', now()) - make_interval(hours => $1 - 1), date_trunc('hour', now()), interval '1 hour') AS start
       )
       SELECT h.start,
         (SELECT count(*)::int FROM environments v
            WHERE v.ready_at IS NOT NULL AND v.ready_at < LEAST(h.start + interval '1 hour', now())
              AND NOT EXISTS (SELECT 1 FROM environment_events e WHERE e.environment_id = v.id
                AND e.status IN ('failed', 'destroying', 'destroyed') AND e.at >= v.ready_at
                AND e.at < LEAST(h.start + interval '1 hour', now()))) AS running,
         (SELECT count(*)::int FROM environments v WHERE v.ready_at >= h.start AND v.ready_at < h.start + interval '1 hour') AS readied,
         (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM v.ready_at - v.created_at))::float
            FROM environments v WHERE v.ready_at >= h.start AND v.ready_at < h.start + interval '1 hour') AS median_ready,
         (SELECT max(extract(epoch FROM v.ready_at - v.created_at))::float
            FROM environments v WHERE v.ready_at >= h.start AND v.ready_at < h.start + interval '1 hour') AS max_ready,
         (SELECT count(*)::int FROM environment_events e WHERE e.type = 'failed' AND e.at >= h.start AND e.at < h.start + interval '1 hour') AS failures
       FROM hours h ORDER BY h.start`, [hours]);
    return rows.map((r) => ({
      start: r.start, running: r.running, readied: r.readied, medianReadySeconds: r.median_ready, maxReadySeconds: r.max_ready, failures: r.failures,
    }));
  }

  /** The latest `limit` events of an environment (oldest first), and how many it has in all. */
  async latestEvents(environmentId: string, limit: number): Promise<{ events: EnvironmentEvent[]; total: number }> {
    const [latest, count] = await Promise.all([
      this.pool.query(`SELECT * FROM (SELECT * FROM environment_events WHERE environment_id = $1 ORDER BY id DESC LIMIT $2) e ORDER BY id`, [environmentId, limit]),
      this.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM environment_events WHERE environment_id = $1', [environmentId]),
    ]);
    return { events: latest.rows.map(toEvent), total: count.rows[0]?.n ?? 0 };
  }
}
