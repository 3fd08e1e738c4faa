import type pg from 'pg';
import { withAdvisoryLock } from './advisory-lock.js';

/** Golden snapshots of seed datasets, and facts about the Docker host, in PostgreSQL. */
/** The host_facts key under which the worker records its clone strategy. */
export const FACT_CLONE = 'clone-strategy';

/** `deleting`: a saved dataset that was deleted; the worker is removing its volume (then `removed`). */
export type SnapshotStatus = 'building' | 'ready' | 'failed' | 'deleting' | 'removed';

export interface Snapshot {
  key: string;
  dataset: string;
  kind: 'dataset' | 'saved';
  template: string | null;
  contentHash: string;
  image: string;
  imageDigest: string;
  volume: string;
  status: SnapshotStatus;
  sizeBytes: number | null;
  buildMs: number | null;
  error: string | null;
  sourceEnv: string | null;
  createdBy: string | null;
  /** Saved datasets: the team of the principal that saved it (it counts against that team's limits). */
  team: string | null;
  /** Saved datasets: the name of the environment it was saved from. */
  sourceName: string | null;
  deletedBy: string | null;
  createdAt: Date;
  readyAt: Date | null;
  lastUsedAt: Date | null;
}

function toSnapshot(r: Record<string, any>): Snapshot {
  return {
    key: r.key, dataset: r.dataset, kind: r.kind, template: r.template, contentHash: r.content_hash, image: r.image,
    imageDigest: r.image_digest, volume: r.volume, status: r.status, sizeBytes: r.size_bytes === null ? null : Number(r.size_bytes),
    buildMs: r.build_ms, error: r.error, sourceEnv: r.source_env, createdBy: r.created_by, team: r.team ?? null, sourceName: r.source_name ?? null,
    deletedBy: r.deleted_by ?? null, createdAt: r.created_at,
    readyAt: r.ready_at, lastUsedAt: r.last_used_at,
  };
}

export class SnapshotStore {
  constructor(private readonly pool: pg.Pool) {}

  async get(key: string): Promise<Snapshot | undefined> {
    const { rows } = await this.pool.query('SELECT * FROM seed_snapshots WHERE key = $1', [key]);
    return rows[0] ? toSnapshot(rows[0]) : undefined;
  }

  async list(): Promise<Snapshot[]> {
    const { rows } = await this.pool.query(`SELECT * FROM seed_snapshots WHERE status NOT IN ('deleting', 'removed') ORDER BY dataset, created_at DESC`);
    return rows.map(toSnapshot);
  }

  /** The newest ready saved snapshot with this dataset name. */
  async savedDataset(name: string): Promise<Snapshot | undefined> {
    const { rows } = await this.pool.query(
      `SELECT * FROM seed_snapshots WHERE dataset = $1 AND kind = 'saved' AND status = 'ready' ORDER BY created_at DESC LIMIT 1`, [name]);
    return rows[0] ? toSnapshot(rows[0]) : undefined;
  }

  async begin(s: Pick<Snapshot, 'key' | 'dataset' | 'kind' | 'template' | 'contentHash' | 'image' | 'imageDigest' | 'volume'> & { sourceEnv?: string; sourceName?: string; createdBy?: string; team?: string }): Promise<void> {
    await this.pool.query(
      `INSERT INTO seed_snapshots (key, dataset, kind, template, content_hash, image, image_digest, volume, status, source_env, created_by, team, source_name)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'building', $9, $10, $11, $12)
       ON CONFLICT (key) DO UPDATE SET status = 'building', error = NULL, ready_at = NULL, created_at = now()`,
      [s.key, s.dataset, s.kind, s.template, s.contentHash, s.image, s.imageDigest, s.volume, s.sourceEnv ?? null, s.createdBy ?? null, s.team ?? null, s.sourceName ?? null]);
  }

  async markReady(key: string, sizeBytes: number | null, buildMs: number): Promise<void> {
    await this.pool.query(
      `UPDATE seed_snapshots SET status = 'ready', size_bytes = $2, build_ms = $3, ready_at = now() WHERE key = $1`, [key, sizeBytes, buildMs]);
  }

  async markFailed(key: string, error: string): Promise<void> {
    await this.pool.query(`UPDATE seed_snapshots SET status = 'failed', error = $2 WHERE key = $1`, [key, error]);
  }

  async markRemoved(key: string): Promise<void> {
    await this.pool.query(`UPDATE seed_snapshots SET status = 'removed' WHERE key = $1`, [key]);
    await this.pool.query('DELETE FROM seed_snapshot_nodes WHERE key = $1', [key]);
  }

  /** A golden built on one swarm node (its volume there); built again on that node replaces the record. */
  async recordNode(g: { key: string; node: string; nodeId: string; volume: string; sizeBytes: number | null; ms: number; onDemand: boolean }): Promise<void> {
    await this.pool.query(
      `INSERT INTO seed_snapshot_nodes (key, node, node_id, volume, size_bytes, build_ms, on_demand) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (key, node) DO UPDATE SET node_id = $3, volume = $4, size_bytes = $5, build_ms = $6, on_demand = $7, built_at = now()`,
      [g.key, g.node, g.nodeId, g.volume, g.sizeBytes, Math.round(g.ms), g.onDemand]);
  }

  /** The swarm nodes a golden was built on. */
  async nodesOf(key: string): Promise<{ node: string; nodeId: string; onDemand: boolean; builtAt: Date }[]> {
    const { rows } = await this.pool.query('SELECT node, node_id, on_demand, built_at FROM seed_snapshot_nodes WHERE key = $1 ORDER BY built_at', [key]);
    return rows.map((r) => ({ node: r.node, nodeId: r.node_id, onDemand: r.on_demand, builtAt: r.built_at }));
  }

  // ---- saved datasets ----------------------------------------------------------------------

  /** Every record of a saved dataset that is not deleted (ready, being saved, failed), newest first. */
  async savedRecords(name?: string): Promise<Snapshot[]> {
    const { rows } = await this.pool.query(
      `SELECT * FROM seed_snapshots WHERE kind = 'saved' AND status IN ('building', 'ready', 'failed') AND ($1::text IS NULL OR dataset = $1)
       ORDER BY dataset, created_at DESC`, [name ?? null]);
    return rows.map(toSnapshot);
  }

  /**
   * What a team's saved datasets hold: datasets ready or being saved, and the bytes of the ready
   * ones; `exceptKey` leaves one record out (the save being admitted).
   */
  async teamUsage(team: string, opts: { exceptKey?: string; readyOnly?: boolean } = {}): Promise<{ count: number; bytes: number }> {
    const { rows } = await this.pool.query(
      `SELECT count(DISTINCT dataset)::int AS count, coalesce(sum(size_bytes) FILTER (WHERE status = 'ready'), 0)::bigint AS bytes
       FROM seed_snapshots WHERE kind = 'saved' AND team = $1 AND status = ANY($2) AND key IS DISTINCT FROM $3`,
      [team, opts.readyOnly ? ['ready'] : ['building', 'ready'], opts.exceptKey ?? null]);
    return { count: rows[0].count, bytes: Number(rows[0].bytes) };
  }

  /** Live environments (not destroyed) started from a saved dataset: by its name, or cloned from one of its keys. */
  async liveUsers(name: string, keys: string[]): Promise<{ id: string; name: string; status: string }[]> {
    const { rows } = await this.pool.query(
      `SELECT id, name, status FROM environments WHERE status <> 'destroyed' AND (seed = $1 OR snapshot_key = ANY($2)) ORDER BY name`, [name, keys]);
    return rows;
  }

  /**
   * Deletes a saved dataset's records (guarded): they become `deleting` only while no live
   * environment was started from it, in one statement. The records that moved; none when an
   * environment started from it meanwhile (or someone else deleted it first).
   */
  async markDeleting(name: string, by: string): Promise<Snapshot[]> {
    const { rows } = await this.pool.query(
      `UPDATE seed_snapshots s SET status = 'deleting', deleted_by = $2, deleted_at = now()
       WHERE s.kind = 'saved' AND s.dataset = $1 AND s.status IN ('ready', 'failed')
         AND NOT EXISTS (SELECT 1 FROM environments e WHERE e.status <> 'destroyed' AND (e.seed = $1 OR e.snapshot_key = s.key))
       RETURNING s.*`, [name, by]);
    return rows.map(toSnapshot);
  }

  /** Deleted saved datasets whose volumes are still to be removed (of one name, or those deleted over `olderThanMs` ago). */
  async deleting(opts: { name?: string; olderThanMs?: number } = {}): Promise<Snapshot[]> {
    const { rows } = await this.pool.query(
      `SELECT * FROM seed_snapshots WHERE kind = 'saved' AND status = 'deleting' AND ($1::text IS NULL OR dataset = $1)
         AND ($2::int IS NULL OR deleted_at < now() - make_interval(secs => $2::int / 1000.0)) ORDER BY deleted_at`,
      [opts.name ?? null, opts.olderThanMs ?? null]);
    return rows.map(toSnapshot);
  }

  /** `deleting` -> `removed` once its volume is gone; false when another run finished it first. */
  async finishDeleting(key: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(`UPDATE seed_snapshots SET status = 'removed' WHERE key = $1 AND status = 'deleting'`, [key]);
    return rowCount === 1;
  }

  /**
   * Runs `fn` holding the environment's save lock, while a save has its database stopped: the
   * reconciler does not take that pause for a lost container (whenNotSaving). The lock goes with
   * the connection, so a worker that dies mid-save does not block healing.
   */
  async withSaveLock<T>(envId: string, fn: () => Promise<T>): Promise<T> {
    return (await withAdvisoryLock(this.pool, `mayfly-save:${envId}`, true, fn)) as T;
  }

  /** Runs `fn` holding the environment's save lock when no save holds it; undefined at once while one does. */
  whenNotSaving<T>(envId: string, fn: () => Promise<T>): Promise<T | undefined> {
    return withAdvisoryLock(this.pool, `mayfly-save:${envId}`, false, fn);
  }

  /** Runs `fn` holding the lock of a team's saved datasets: admissions against its limits one at a time. */
  async withTeamLock<T>(team: string, fn: () => Promise<T>): Promise<T> {
    return (await withAdvisoryLock(this.pool, `mayfly-saved-team:${team}`, true, fn)) as T;
  }

  async touch(key: string): Promise<void> {
    await this.pool.query('UPDATE seed_snapshots SET last_used_at = now() WHERE key = $1', [key]);
  }

  /**
   * Goldens that no live environment uses and that are not the newest ready one of their
   * dataset (saved snapshots are kept until deleted: they are someone's evidence).
   */
  async unused(): Promise<Snapshot[]> {
    const { rows } = await this.pool.query(`
      SELECT s.* FROM seed_snapshots s
      WHERE s.status IN ('ready', 'failed') AND s.kind = 'dataset'
        AND NOT EXISTS (SELECT 1 FROM environments e WHERE e.snapshot_key = s.key AND e.status <> 'destroyed')
        AND (s.status = 'failed' OR EXISTS (
          SELECT 1 FROM seed_snapshots n WHERE n.dataset = s.dataset AND n.kind = 'dataset' AND n.status = 'ready'
            AND n.template IS NOT DISTINCT FROM s.template AND n.created_at > s.created_at))`);
    return rows.map(toSnapshot);
  }

  /**
   * Runs `fn` holding a PostgreSQL advisory lock for `key`: concurrent builders of one golden
   * wait for the first, and a builder that dies releases the lock with its connection.
   */
  async withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return (await withAdvisoryLock(this.pool, `mayfly-golden:${key}`, true, fn)) as T;
  }

  async setFact(key: string, value: unknown): Promise<void> {
    await this.pool.query(
      `INSERT INTO host_facts (key, value, updated_at) VALUES ($1, $2, now()) ON CONFLICT (key) DO UPDATE SET value = $2, updated_at = now()`,
      [key, JSON.stringify(value)]);
  }

  async fact<T>(key: string): Promise<{ value: T; updatedAt: Date } | undefined> {
    const { rows } = await this.pool.query('SELECT value, updated_at FROM host_facts WHERE key = $1', [key]);
    return rows[0] ? { value: rows[0].value as T, updatedAt: rows[0].updated_at } : undefined;
  }
}
