import type pg from 'pg';
import { withAdvisoryLock } from './advisory-lock.js';

/** Golden snapshots of seed datasets, and facts about the Docker host, in PostgreSQL. */
/** The host_facts key under which the worker records its clone strategy. */
export const FACT_CLONE = 'clone-strategy';

export type SnapshotStatus = 'building' | 'ready' | 'failed' | 'removed';

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
  createdAt: Date;
  readyAt: Date | null;
  lastUsedAt: Date | null;
}

function toSnapshot(r: Record<string, any>): Snapshot {
  return {
    key: r.key, dataset: r.dataset, kind: r.kind, template: r.template, contentHash: r.content_hash, image: r.image,
    imageDigest: r.image_digest, volume: r.volume, status: r.status, sizeBytes: r.size_bytes === null ? null : Number(r.size_bytes),
    buildMs: r.build_ms, error: r.error, sourceEnv: r.source_env, createdBy: r.created_by, createdAt: r.created_at,
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
    const { rows } = await this.pool.query(`SELECT * FROM seed_snapshots WHERE status <> 'removed' ORDER BY dataset, created_at DESC`);
    return rows.map(toSnapshot);
  }

  /** The newest ready saved snapshot with this dataset name. */
  async savedDataset(name: string): Promise<Snapshot | undefined> {
    const { rows } = await this.pool.query(
      `SELECT * FROM seed_snapshots WHERE dataset = $1 AND kind = 'saved' AND status = 'ready' ORDER BY created_at DESC LIMIT 1`, [name]);
    return rows[0] ? toSnapshot(rows[0]) : undefined;
  }

  async begin(s: Pick<Snapshot, 'key' | 'dataset' | 'kind' | 'template' | 'contentHash' | 'image' | 'imageDigest' | 'volume'> & { sourceEnv?: string; createdBy?: string }): Promise<void> {
    await this.pool.query(
      `INSERT INTO seed_snapshots (key, dataset, kind, template, content_hash, image, image_digest, volume, status, source_env, created_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'building', $9, $10)
       ON CONFLICT (key) DO UPDATE SET status = 'building', error = NULL, ready_at = NULL, created_at = now()`,
      [s.key, s.dataset, s.kind, s.template, s.contentHash, s.image, s.imageDigest, s.volume, s.sourceEnv ?? null, s.createdBy ?? null]);
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
