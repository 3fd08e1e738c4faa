import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { checkpointVolume } from '../domain/names.js';

/**
 * Checkpoints of an environment's database (docs/data-workflows.md): a copy of its data volume
 * taken while the database is paused for a moment. `pending` until the worker took it; a bounded
 * number stay `ready` per environment (the oldest are `removed`); their volumes are labeled for
 * the environment, so they go when it goes.
 */
export const CHECKPOINT_REASONS = ['manual', 'before-redeploy', 'before-reset', 'before-rewind'] as const;
export type CheckpointReason = (typeof CHECKPOINT_REASONS)[number];
export type CheckpointStatus = 'pending' | 'ready' | 'failed' | 'removed';

export interface Checkpoint {
  id: string;
  environmentId: string;
  environment: string;
  generation: number;
  reason: CheckpointReason;
  status: CheckpointStatus;
  volume: string;
  sizeBytes: number | null;
  pauseMs: number | null;
  error: string | null;
  createdBy: string;
  createdAt: Date;
  readyAt: Date | null;
}

interface Row {
  id: string; environment_id: string; environment: string; generation: number; reason: CheckpointReason; status: CheckpointStatus;
  volume: string; size_bytes: string | null; pause_ms: number | null; error: string | null; created_by: string; created_at: Date; ready_at: Date | null;
}

const toCheckpoint = (r: Row): Checkpoint => ({
  id: r.id, environmentId: r.environment_id, environment: r.environment, generation: r.generation, reason: r.reason, status: r.status,
  volume: r.volume, sizeBytes: r.size_bytes === null ? null : Number(r.size_bytes), pauseMs: r.pause_ms, error: r.error,
  createdBy: r.created_by, createdAt: r.created_at, readyAt: r.ready_at,
});

/** A checkpoint id: `cp-` and 8 hex digits (what users type: `mayfly rewind shop-1 cp-1a2b3c4d`). */
export const CHECKPOINT_ID = /^cp-[0-9a-f]{8}$/;

export class CheckpointStore {
  constructor(private readonly db: pg.Pool | pg.PoolClient) {}

  /** Records a checkpoint to take (the worker takes it); returns it. */
  async add(env: { id: string; name: string; project: string }, generation: number, reason: CheckpointReason, by: string): Promise<Checkpoint> {
    const id = `cp-${randomBytes(4).toString('hex')}`;
    const { rows } = await this.db.query<Row>(
      `INSERT INTO checkpoints (id, environment_id, environment, generation, reason, status, volume, created_by)
       VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7) RETURNING *`,
      [id, env.id, env.name, generation, reason, checkpointVolume(env.project, id), by]);
    return toCheckpoint(rows[0]!);
  }

  async get(id: string): Promise<Checkpoint | undefined> {
    const { rows } = await this.db.query<Row>('SELECT * FROM checkpoints WHERE id = $1', [id]);
    return rows[0] ? toCheckpoint(rows[0]) : undefined;
  }

  /** An environment's checkpoints, newest first (removed ones left out). */
  async list(environmentId: string): Promise<Checkpoint[]> {
    const { rows } = await this.db.query<Row>(
      `SELECT * FROM checkpoints WHERE environment_id = $1 AND status <> 'removed' ORDER BY created_at DESC, id`, [environmentId]);
    return rows.map(toCheckpoint);
  }

  /** Checkpoints still to take for an environment, up to its generation, oldest first. */
  async pending(environmentId: string, generation: number): Promise<Checkpoint[]> {
    const { rows } = await this.db.query<Row>(
      `SELECT * FROM checkpoints WHERE environment_id = $1 AND status = 'pending' AND generation <= $2 ORDER BY created_at, id`, [environmentId, generation]);
    return rows.map(toCheckpoint);
  }

  async markReady(id: string, sizeBytes: number | null, pauseMs: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE checkpoints SET status = 'ready', size_bytes = $2, pause_ms = $3, ready_at = now() WHERE id = $1 AND status = 'pending'`, [id, sizeBytes, pauseMs]);
    return (rowCount ?? 0) > 0;
  }

  /** Records why a pending checkpoint was not taken; false when it is no longer pending (taken or failed meanwhile). */
  async markFailed(id: string, error: string): Promise<boolean> {
    const { rowCount } = await this.db.query(`UPDATE checkpoints SET status = 'failed', error = $2 WHERE id = $1 AND status = 'pending'`, [id, error.slice(0, 2000)]);
    return (rowCount ?? 0) > 0;
  }

  /**
   * Pending checkpoints recorded over `olderThanSeconds` ago, oldest first, with how often the
   * reconciler queued each again: it redelivers those whose job is gone.
   */
  async stalePending(olderThanSeconds: number, limit = 200): Promise<(Checkpoint & { redeliveries: number })[]> {
    const { rows } = await this.db.query<Row & { redeliveries: number }>(
      `SELECT * FROM checkpoints WHERE status = 'pending' AND created_at <= now() - ($1::int * interval '1 second') ORDER BY created_at, id LIMIT $2`,
      [olderThanSeconds, limit]);
    return rows.map((r) => ({ ...toCheckpoint(r), redeliveries: r.redeliveries }));
  }

  /**
   * Counts one more delivery by the reconciler while the checkpoint is still pending: the count so
   * far, or undefined when it was taken (or failed) meanwhile, and nothing is to be queued.
   */
  async countRedelivery(id: string): Promise<number | undefined> {
    const { rows } = await this.db.query<{ redeliveries: number }>(
      `UPDATE checkpoints SET redeliveries = redeliveries + 1 WHERE id = $1 AND status = 'pending' RETURNING redeliveries`, [id]);
    return rows[0]?.redeliveries;
  }

  /**
   * The ready (or failed) checkpoints past the newest `keep` of an environment (oldest last),
   * never the one a rewind waits on (`except`), which takes one of the `keep` places itself: the
   * worker removes their volumes, then marks them removed.
   */
  async beyond(environmentId: string, keep: number, except: string | null): Promise<Checkpoint[]> {
    const held = except === null ? 0 : (await this.db.query(
      `SELECT 1 FROM checkpoints WHERE environment_id = $1 AND id = $2 AND status IN ('ready', 'failed')`, [environmentId, except])).rowCount ?? 0;
    const { rows } = await this.db.query<Row>(
      `SELECT * FROM checkpoints WHERE environment_id = $1 AND status IN ('ready', 'failed') AND id IS DISTINCT FROM $3
       ORDER BY created_at DESC, id OFFSET $2`, [environmentId, Math.max(0, keep - held), except]);
    return rows.map(toCheckpoint);
  }

  async markRemoved(id: string): Promise<void> {
    await this.db.query(`UPDATE checkpoints SET status = 'removed' WHERE id = $1`, [id]);
  }

  /** Every checkpoint of an environment is gone with it (its volumes went with its other volumes). */
  async removeAll(environmentId: string): Promise<void> {
    await this.db.query(`UPDATE checkpoints SET status = 'removed' WHERE environment_id = $1 AND status <> 'removed'`, [environmentId]);
  }
}
