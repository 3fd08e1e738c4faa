/**
 * The warm pool's rows (migration 21): standbys started ahead of requests, and per-template hit
 * and miss counters. A standby's id is the environment id it hands over on a claim.
 */
import type pg from 'pg';

export type StandbyStatus = 'starting' | 'ready' | 'draining';

export interface Standby {
  id: string;
  template: string;
  seed: string | null;
  project: string;
  templateHash: string;
  snapshotKey: string | null;
  cloneStrategy: string | null;
  status: StandbyStatus;
  createdAt: Date;
  readyAt: Date | null;
}

/** What a claim hands to the environment it creates: its id, project and seed clone. */
export interface ClaimedStandby { id: string; project: string; snapshotKey: string | null; cloneStrategy: string | null }

interface Row {
  id: string; template: string; seed: string | null; project: string; template_hash: string; snapshot_key: string | null;
  clone_strategy: string | null; status: StandbyStatus; created_at: Date; ready_at: Date | null;
}

const toStandby = (r: Row): Standby => ({
  id: r.id, template: r.template, seed: r.seed, project: r.project, templateHash: r.template_hash, snapshotKey: r.snapshot_key,
  cloneStrategy: r.clone_strategy, status: r.status, createdAt: r.created_at, readyAt: r.ready_at,
});

export class PoolStore {
  constructor(private readonly db: pg.Pool | pg.PoolClient) {}

  /**
   * Inside the caller's transaction: takes the oldest ready standby of this template and seed
   * that is current (the same template hash, and a clone of the newest ready golden of the seed,
   * or a restore), deletes its row and returns what the new environment takes over; counts a hit
   * or a miss. SKIP LOCKED: two requests at once never take the same standby.
   */
  async claim(template: string, seed: string | null, templateHash: string): Promise<ClaimedStandby | undefined> {
    const { rows } = await this.db.query<{ id: string; project: string; snapshot_key: string | null; clone_strategy: string | null }>(
      `WITH golden AS (
         SELECT key FROM seed_snapshots WHERE dataset = $2 AND kind = 'dataset' AND status = 'ready' AND (template = $1 OR template IS NULL)
         ORDER BY ready_at DESC NULLS LAST, created_at DESC LIMIT 1),
       pick AS (
         SELECT id FROM pool_standbys
         WHERE template = $1 AND seed IS NOT DISTINCT FROM $2 AND status = 'ready' AND template_hash = $3
           AND ($2::text IS NULL OR clone_strategy = 'restore' OR snapshot_key = (SELECT key FROM golden))
         ORDER BY ready_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
       DELETE FROM pool_standbys s USING pick WHERE s.id = pick.id
       RETURNING s.id, s.project, s.snapshot_key, s.clone_strategy`, [template, seed, templateHash]);
    const hit = rows[0];
    await this.db.query(
      `INSERT INTO pool_counters (template, hits, misses) VALUES ($1, $2, $3)
       ON CONFLICT (template) DO UPDATE SET hits = pool_counters.hits + $2, misses = pool_counters.misses + $3`,
      [template, hit ? 1 : 0, hit ? 0 : 1]);
    return hit ? { id: hit.id, project: hit.project, snapshotKey: hit.snapshot_key, cloneStrategy: hit.clone_strategy } : undefined;
  }

  async insert(s: { id: string; template: string; seed: string | null; project: string; templateHash: string }): Promise<void> {
    await this.db.query(`INSERT INTO pool_standbys (id, template, seed, project, template_hash, status) VALUES ($1, $2, $3, $4, $5, 'starting')`,
      [s.id, s.template, s.seed, s.project, s.templateHash]);
  }

  /** A started standby is healthy: it may be claimed from now on. False when its row went (drained meanwhile). */
  async markReady(id: string, snapshotKey: string | null, cloneStrategy: string | null): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE pool_standbys SET status = 'ready', ready_at = now(), snapshot_key = $2, clone_strategy = $3 WHERE id = $1 AND status = 'starting'`,
      [id, snapshotKey, cloneStrategy]);
    return (rowCount ?? 0) > 0;
  }

  /** Takes a standby out of reach of claims before its objects are removed. False when it was claimed (or gone) meanwhile. */
  async markDraining(id: string): Promise<boolean> {
    const { rowCount } = await this.db.query(`UPDATE pool_standbys SET status = 'draining' WHERE id = $1 AND status <> 'draining'`, [id]);
    return (rowCount ?? 0) > 0;
  }

  async remove(id: string): Promise<void> {
    await this.db.query('DELETE FROM pool_standbys WHERE id = $1', [id]);
  }

  async list(): Promise<Standby[]> {
    const { rows } = await this.db.query<Row>('SELECT * FROM pool_standbys ORDER BY template, created_at');
    return rows.map(toStandby);
  }

  /** Per template: standbys by status, hits and misses (for /metrics and the overview page). */
  async stats(): Promise<{ template: string; starting: number; ready: number; draining: number; hits: number; misses: number }[]> {
    const { rows } = await this.db.query<{ template: string; starting: string; ready: string; draining: string; hits: string; misses: string }>(
      `SELECT t.template,
              count(*) FILTER (WHERE s.status = 'starting') AS starting,
              count(*) FILTER (WHERE s.status = 'ready') AS ready,
              count(*) FILTER (WHERE s.status = 'draining') AS draining,
              coalesce(max(c.hits), 0) AS hits, coalesce(max(c.misses), 0) AS misses
       FROM (SELECT template FROM pool_standbys UNION SELECT template FROM pool_counters) t
       LEFT JOIN pool_standbys s ON s.template = t.template
       LEFT JOIN pool_counters c ON c.template = t.template
       GROUP BY t.template ORDER BY t.template`);
    return rows.map((r) => ({ template: r.template, starting: Number(r.starting), ready: Number(r.ready), draining: Number(r.draining), hits: Number(r.hits), misses: Number(r.misses) }));
  }
}
