import { randomBytes } from 'node:crypto';
import type pg from 'pg';

/**
 * Bug capsules (docs/data-workflows.md#bug-capsules): a copy of an environment's database taken
 * the way a checkpoint is, with what was recorded around it. Stores only: the application layer
 * (core/app/capsules.ts) decides, the worker takes and removes their volumes. `pending` until the
 * worker took it; `deleting` once deleted until its volume is gone (then the row goes).
 */
export type CapsuleStatus = 'pending' | 'ready' | 'failed' | 'deleting';

/** One entry of the router's request trail (api/router/trail.ts), as recorded in a capsule. */
export interface CapsuleRequest { method: string; path: string; status: number; durationMs: number; at: string }
/** One timeline event, as recorded in a capsule. */
export interface CapsuleEvent { at: string; type: string; status: string | null; message: string }

export interface Capsule {
  id: string;
  name: string;
  note: string;
  team: string;
  environmentId: string;
  environment: string;
  template: string;
  seed: string | null;
  /** The image references the environment was asked for, per service. */
  images: Record<string, string>;
  /** What it ran, per service (`repo@sha256:...` as pulled). */
  digests: Record<string, string>;
  status: CapsuleStatus;
  volume: string;
  /** The rendered stack (YAML), recorded by the worker. */
  stack: string | null;
  timeline: CapsuleEvent[] | null;
  /** The last lines of each service's log. */
  logs: Record<string, string> | null;
  requests: CapsuleRequest[];
  /** Bytes of the gzipped SQL dump kept for the archive (null: none; see dumpError). */
  dumpBytes: number | null;
  dumpError: string | null;
  sizeBytes: number | null;
  pauseMs: number | null;
  error: string | null;
  createdBy: string;
  createdAt: Date;
  readyAt: Date | null;
}

interface Row {
  id: string; name: string; note: string; team: string; environment_id: string; environment: string; template: string; seed: string | null;
  images: Record<string, string>; digests: Record<string, string>; status: CapsuleStatus; volume: string; stack: string | null;
  timeline: CapsuleEvent[] | null; logs: Record<string, string> | null; requests: CapsuleRequest[]; dump_bytes: number | null; dump_error: string | null;
  size_bytes: string | null; pause_ms: number | null; error: string | null; created_by: string; created_at: Date; ready_at: Date | null;
}

const COLUMNS = `id, name, note, team, environment_id, environment, template, seed, images, digests, status, volume, stack, timeline, logs, requests,
  octet_length(dump) AS dump_bytes, dump_error, size_bytes, pause_ms, error, created_by, created_at, ready_at`;

const toCapsule = (r: Row): Capsule => ({
  id: r.id, name: r.name, note: r.note, team: r.team, environmentId: r.environment_id, environment: r.environment, template: r.template, seed: r.seed,
  images: r.images, digests: r.digests, status: r.status, volume: r.volume, stack: r.stack, timeline: r.timeline, logs: r.logs, requests: r.requests,
  dumpBytes: r.dump_bytes, dumpError: r.dump_error, sizeBytes: r.size_bytes === null ? null : Number(r.size_bytes), pauseMs: r.pause_ms, error: r.error,
  createdBy: r.created_by, createdAt: r.created_at, readyAt: r.ready_at,
});

/** A capsule id: `cap-` and 8 hex digits (what users type: `mayfly deploy bug-1 --capsule cap-1a2b3c4d`). */
export const CAPSULE_ID = /^cap-[0-9a-f]{8}$/;

export interface NewCapsule {
  name: string | null;
  note: string;
  team: string;
  env: { id: string; name: string; template: string; seed: string | null; images: Record<string, string>; digests: Record<string, string> };
  requests: CapsuleRequest[];
  createdBy: string;
  /** The volume's name for the capsule id (the engine names volumes; core/domain/names.ts). */
  volumeOf: (id: string) => string;
}

/** What the worker recorded around the copy. */
export interface CapsuleContents {
  stack: string;
  timeline: CapsuleEvent[];
  logs: Record<string, string>;
  /** The gzipped SQL dump, or why there is none. */
  dump: Buffer | null;
  dumpError: string | null;
  sizeBytes: number | null;
  pauseMs: number;
}

export class CapsuleStore {
  constructor(private readonly db: pg.Pool | pg.PoolClient) {}

  /** Records a capsule to take (the worker takes it); named after its id when no name is given. */
  async add(input: NewCapsule): Promise<Capsule> {
    const id = `cap-${randomBytes(4).toString('hex')}`;
    const { rows } = await this.db.query<Row>(
      `INSERT INTO capsules (id, name, note, team, environment_id, environment, template, seed, images, digests, status, volume, requests, created_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', $11, $12, $13) RETURNING ${COLUMNS}`,
      [id, input.name ?? id, input.note, input.team, input.env.id, input.env.name, input.env.template, input.env.seed, input.env.images, input.env.digests,
        input.volumeOf(id), JSON.stringify(input.requests), input.createdBy]);
    return toCapsule(rows[0]!);
  }

  /** A capsule (also one being deleted: the caller decides what that means). */
  async get(id: string): Promise<Capsule | undefined> {
    const { rows } = await this.db.query<Row>(`SELECT ${COLUMNS} FROM capsules WHERE id = $1`, [id]);
    return rows[0] ? toCapsule(rows[0]) : undefined;
  }

  /** The gzipped SQL dump of a capsule, if one was kept. */
  async dump(id: string): Promise<Buffer | null> {
    const { rows } = await this.db.query<{ dump: Buffer | null }>('SELECT dump FROM capsules WHERE id = $1', [id]);
    return rows[0]?.dump ?? null;
  }

  /** Capsules of an environment (by id), newest first; those being deleted left out. */
  async listForEnvironment(environmentId: string): Promise<Capsule[]> {
    const { rows } = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM capsules WHERE environment_id = $1 AND status <> 'deleting' ORDER BY created_at DESC, id`, [environmentId]);
    return rows.map(toCapsule);
  }

  /** Capsules of environments of this name (also destroyed ones: a capsule outlives its environment), newest first. */
  async listForName(environment: string): Promise<Capsule[]> {
    const { rows } = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM capsules WHERE environment = $1 AND status <> 'deleting' ORDER BY created_at DESC, id`, [environment]);
    return rows.map(toCapsule);
  }

  /** How many capsules a team holds (pending or ready), for its limit. */
  async teamCount(team: string): Promise<number> {
    const { rows } = await this.db.query<{ n: string }>(`SELECT count(*) AS n FROM capsules WHERE team = $1 AND status IN ('pending', 'ready')`, [team]);
    return Number(rows[0]!.n);
  }

  async markReady(id: string, c: CapsuleContents): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE capsules SET status = 'ready', stack = $2, timeline = $3, logs = $4, dump = $5, dump_error = $6, size_bytes = $7, pause_ms = $8, ready_at = now()
       WHERE id = $1 AND status = 'pending'`,
      [id, c.stack, JSON.stringify(c.timeline), JSON.stringify(c.logs), c.dump, c.dumpError, c.sizeBytes, c.pauseMs]);
    return (rowCount ?? 0) > 0;
  }

  /** Records why a pending capsule was not taken; false when it is no longer pending (taken, failed or deleted meanwhile). */
  async markFailed(id: string, error: string): Promise<boolean> {
    const { rowCount } = await this.db.query(`UPDATE capsules SET status = 'failed', error = $2 WHERE id = $1 AND status = 'pending'`, [id, error.slice(0, 2000)]);
    return (rowCount ?? 0) > 0;
  }

  /** Deleted: hidden at once; the worker removes its volume, then the row (forget). */
  async markDeleting(id: string, by: string): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE capsules SET status = 'deleting', deleted_by = $2, deleted_at = now(), redeliveries = 0 WHERE id = $1 AND status <> 'deleting'`, [id, by]);
    return (rowCount ?? 0) > 0;
  }

  /**
   * Capsules whose work is unfinished over `olderThanSeconds` after it was asked for (pending since
   * recorded, deleting since deleted), oldest first, with how often the reconciler queued each
   * again: it redelivers those whose job is gone.
   */
  async unfinished(olderThanSeconds: number, limit = 200): Promise<(Capsule & { redeliveries: number })[]> {
    const { rows } = await this.db.query<Row & { redeliveries: number }>(
      `SELECT ${COLUMNS}, redeliveries FROM capsules
       WHERE status IN ('pending', 'deleting') AND coalesce(deleted_at, created_at) <= now() - ($1::int * interval '1 second')
       ORDER BY coalesce(deleted_at, created_at), id LIMIT $2`, [olderThanSeconds, limit]);
    return rows.map((r) => ({ ...toCapsule(r), redeliveries: r.redeliveries }));
  }

  /**
   * Counts one more delivery by the reconciler while the capsule's work is still `status`: the
   * count so far, or undefined when it moved on meanwhile (taken, failed, forgotten), and nothing is to be queued.
   */
  async countRedelivery(id: string, status: 'pending' | 'deleting'): Promise<number | undefined> {
    const { rows } = await this.db.query<{ redeliveries: number }>(
      `UPDATE capsules SET redeliveries = redeliveries + 1 WHERE id = $1 AND status = $2 RETURNING redeliveries`, [id, status]);
    return rows[0]?.redeliveries;
  }

  /**
   * A deletion that did not finish: the capsule shows again as failed, with why, so its team sees
   * that its volume may remain and can delete it again. False when it is no longer deleting.
   */
  async failDeletion(id: string, error: string): Promise<boolean> {
    const { rowCount } = await this.db.query(`UPDATE capsules SET status = 'failed', error = $2 WHERE id = $1 AND status = 'deleting'`, [id, error.slice(0, 2000)]);
    return (rowCount ?? 0) > 0;
  }

  /** Capsules deleted whose volume is still to remove (the worker's clean-up). */
  async deleting(): Promise<Capsule[]> {
    const { rows } = await this.db.query<Row>(`SELECT ${COLUMNS} FROM capsules WHERE status = 'deleting' ORDER BY created_at`);
    return rows.map(toCapsule);
  }

  /** The record goes (its volume went first). */
  async forget(id: string): Promise<void> {
    await this.db.query(`DELETE FROM capsules WHERE id = $1 AND status = 'deleting'`, [id]);
  }
}
