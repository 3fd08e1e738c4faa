import { randomUUID } from 'node:crypto';
import { projectName } from '../domain/names.js';
import type pg from 'pg';
import type { ClaimedStandby } from './warm-pool.js';
import { LEASED_STATUSES, sourcesOf, type Access, type DestroyReason, type Door, type Environment, type EnvironmentEvent, type Status } from '../domain/environment.js';

/**
 * Environments and their event timeline in PostgreSQL, the source of truth. Every status change
 * is one guarded UPDATE (`WHERE status = ANY(<allowed sources>)`) that appends its event in the
 * same statement, so two workers, or a worker and the reconciler, cannot both win.
 */
interface Row {
  id: string; name: string; template: string; status: Status; owner: string; team?: string; door?: Door;
  images: Record<string, string>; digests: Record<string, string>; seed: string | null;
  ttl_seconds: number; expires_at: Date; generation: number; project: string;
  urls: Record<string, string>; endpoints?: Record<string, string> | null; last_activity_at?: Date | null; failure_code: string | null; failure_message: string | null;
  destroy_reason: DestroyReason | null; destroyed_by: string | null; seeded_at: Date | null;
  created_at: Date; updated_at: Date; ready_at: Date | null; destroyed_at: Date | null;
  snapshot_key: string | null; clone_strategy: string | null;
  run_epoch?: number;
  origin?: string | null;
  access?: Access | null;
  parent_id?: string | null;
  fork_depth?: number;
  restore_from?: string | null;
  node?: string | null;
}

function toEnvironment(r: Row): Environment {
  return {
    id: r.id, name: r.name, template: r.template, status: r.status, owner: r.owner, team: r.team ?? 'default', door: r.door ?? 'api',
    images: r.images, digests: r.digests, seed: r.seed, ttlSeconds: r.ttl_seconds,
    expiresAt: r.expires_at, generation: r.generation, project: r.project, urls: r.urls,
    endpoints: r.endpoints ?? {}, lastActivityAt: r.last_activity_at ?? null,
    failure: r.failure_code ? { code: r.failure_code, message: r.failure_message ?? '' } : null,
    destroyReason: r.destroy_reason, destroyedBy: r.destroyed_by, seededAt: r.seeded_at,
    createdAt: r.created_at, updatedAt: r.updated_at, readyAt: r.ready_at, destroyedAt: r.destroyed_at,
    snapshotKey: r.snapshot_key, cloneStrategy: r.clone_strategy, origin: r.origin ?? null, access: r.access ?? null,
    parentId: r.parent_id ?? null, forkDepth: r.fork_depth ?? 0, restoreFrom: r.restore_from ?? null,
    node: r.node ?? null,
  };
}

export interface NewEnvironment {
  name: string;
  template: string;
  owner: string;
  images: Record<string, string>;
  seed: string | null;
  ttlSeconds: number;
  /** The door it is asked for through (default api); kept from the first request on a redeploy. */
  door?: Door;
  /** The creating principal's team (default `default`); kept from the first request on a redeploy. */
  team?: string;
  /** Where it came from, for a door that acts on its own (e.g. `github:<owner>/<repo>#<pr>`). */
  origin?: string;
  /** Who may open its address, when the request chose it (else its template's access applies). */
  access?: Access;
  /** A fork: its parent's id and its depth (1 for a fork of an environment that is not one). */
  parentId?: string;
  forkDepth?: number;
  /** Its first database comes from this bug capsule (`cap-...`), not from the seed. */
  restoreFrom?: string;
}


/**
 * A job run's claim on an environment (worker/jobs/fence.ts): the run owns it while the row is
 * still at this generation and run epoch, in one of these statuses. Every claim takes the next
 * epoch, so a later run of the same job (the queue gave it to another worker) makes it stale.
 */
export interface RunFence {
  generation: number;
  epoch: number;
  statuses: readonly Status[];
}

/** The current row as a fence judges it. */
export interface RunState { env: Environment; epoch: number }

export interface TransitionOptions {
  /** Only if the environment is still at this deploy generation. */
  generation?: number;
  /** Only while this job run still owns it (its generation, epoch and statuses). */
  fence?: RunFence;
  /** Column updates that go with the move (whitelisted below); NOW is the statement's now(). */
  set?: Partial<Record<SettableColumn, unknown>>;
  /**
   * The lease that goes with the move (a redeploy): `renew` starts it again for `seconds`;
   * `keep` keeps it unless it already ran out (then it starts again, or the redeploy would be
   * torn down at once).
   */
  lease?: { seconds: number; mode: 'renew' | 'keep' };
  /** Only from these statuses (narrower than every allowed source of `to`). */
  from?: Status[];
  /** Only if no traffic went through the router for this long (and it has been ready that long). */
  idleSeconds?: number;
  /** Bump the generation (a redeploy). */
  bumpGeneration?: boolean;
  event: { type: string; message: string; data?: Record<string, unknown> };
}

const SETTABLE_COLUMNS = ['images', 'digests', 'urls', 'endpoints', 'failure_code', 'failure_message', 'destroy_reason', 'destroyed_by',
  'seeded_at', 'ready_at', 'destroyed_at', 'holds_capacity', 'admitted_at', 'access', 'restore_from', 'node'] as const;
type SettableColumn = (typeof SETTABLE_COLUMNS)[number];
const SETTABLE = new Set<string>(SETTABLE_COLUMNS);
const JSON_COLUMNS = new Set(['images', 'digests', 'urls', 'endpoints']);
/** A `set` value that means the statement's now() (the database's clock, as every other timestamp). */
export const NOW = Symbol('now()');


export class EnvironmentStore {
  /** Over the pool, or over one transaction's connection (see transaction()). */
  constructor(private readonly db: pg.Pool | pg.PoolClient) {}

  async getById(id: string): Promise<Environment | undefined> {
    const { rows } = await this.db.query<Row>('SELECT * FROM environments WHERE id = $1', [id]);
    return rows[0] ? toEnvironment(rows[0]) : undefined;
  }

  /** The live environment with this name, else the most recently destroyed one (to say why it went). */
  async getByName(name: string): Promise<Environment | undefined> {
    const { rows } = await this.db.query<Row>(
      `SELECT * FROM environments WHERE name = $1 ORDER BY (status <> 'destroyed') DESC, created_at DESC LIMIT 1`, [name]);
    return rows[0] ? toEnvironment(rows[0]) : undefined;
  }

  async list(filter: { statuses?: Status[]; template?: string; owner?: string; team?: string; limit?: number } = {}): Promise<Environment[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.statuses?.length) { args.push(filter.statuses); where.push(`status = ANY($${args.length})`); }
    if (filter.template) { args.push(filter.template); where.push(`template = $${args.length}`); }
    if (filter.owner) { args.push(filter.owner); where.push(`owner = $${args.length}`); }
    if (filter.team) { args.push(filter.team); where.push(`team = $${args.length}`); }
    args.push(Math.min(filter.limit ?? 500, 5000));
    const { rows } = await this.db.query<Row>(
      `SELECT * FROM environments ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC LIMIT $${args.length}`, args);
    return rows.map(toEnvironment);
  }

  async events(environmentId: string, afterId = 0): Promise<EnvironmentEvent[]> {
    const { rows } = await this.db.query(
      'SELECT * FROM environment_events WHERE environment_id = $1 AND id > $2 ORDER BY id', [environmentId, afterId]);
    return rows.map((r) => ({
      id: Number(r.id), environmentId: r.environment_id, at: r.at, type: r.type, status: r.status, message: r.message, data: r.data,
    }));
  }

  /**
   * Appends to the timeline. With a fence, only while that job run still owns the environment
   * (checked in the same statement); returns whether the event was written.
   */
  async addEvent(environmentId: string, type: string, message: string, data?: Record<string, unknown>, fence?: RunFence): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `INSERT INTO environment_events (environment_id, type, status, message, data)
       SELECT id, $2, status, $3, $4 FROM environments WHERE id = $1
         AND ($5::int IS NULL OR (generation = $5 AND run_epoch = $6 AND status = ANY($7)))`,
      [environmentId, type, message, data ?? null, fence?.generation ?? null, fence?.epoch ?? null, fence?.statuses ?? null]);
    return (rowCount ?? 0) > 0;
  }

  /**
   * A job run claims the environment (compare-and-set on generation and status): it takes the
   * next run epoch, which makes any earlier run of the same job stale. Undefined when the
   * environment is no longer at this generation in one of these statuses.
   */
  async claimRun(id: string, generation: number, statuses: readonly Status[]): Promise<RunState | undefined> {
    const { rows } = await this.db.query<Row>(
      `UPDATE environments SET run_epoch = run_epoch + 1 WHERE id = $1 AND generation = $2 AND status = ANY($3) RETURNING *`,
      [id, generation, statuses]);
    return rows[0] ? { env: toEnvironment(rows[0]), epoch: rows[0].run_epoch ?? 0 } : undefined;
  }

  /** The current row and its run epoch, for a fence to judge (worker/jobs/fence.ts). */
  async runState(id: string): Promise<RunState | undefined> {
    const { rows } = await this.db.query<Row>('SELECT * FROM environments WHERE id = $1', [id]);
    return rows[0] ? { env: toEnvironment(rows[0]), epoch: rows[0].run_epoch ?? 0 } : undefined;
  }

  /**
   * Runs `work` in one PostgreSQL transaction, with a store over that transaction's connection:
   * everything `work` writes commits together, or (it throws) nothing does.
   */
  async transaction<T>(work: (tx: EnvironmentStore, client: pg.PoolClient) => Promise<T>): Promise<T> {
    if (!('connect' in this.db)) return work(this, this.db as pg.PoolClient); // already in one
    const client = await (this.db as pg.Pool).connect();
    try {
      await client.query('BEGIN');
      const result = await work(new EnvironmentStore(client), client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** The live (not destroyed) environment with this name; with `lock`, row-locked until the transaction ends. */
  async getLive(name: string, opts: { lock?: boolean } = {}): Promise<Environment | undefined> {
    const { rows } = await this.db.query<Row>(
      `SELECT * FROM environments WHERE name = $1 AND status <> 'destroyed'${opts.lock ? ' FOR UPDATE' : ''}`, [name]);
    return rows[0] ? toEnvironment(rows[0]) : undefined;
  }

  /**
   * Records a new environment (`queued`) with its `requested` event. Undefined when a live one of
   * that name exists already (the partial unique index decides a race: the caller reads the winner).
   */
  /**
   * `standby`: a warm-pool standby this environment takes over (core/app/pool.ts): its id and
   * project, and its database already cloned from `snapshotKey` (so seeded, and kept).
   */
  async create(input: NewEnvironment, standby?: ClaimedStandby): Promise<Environment | undefined> {
    const id = standby?.id ?? randomUUID();
    const project = standby?.project ?? projectName(input.name, id);
    const seeded = !!standby && !!input.seed;
    const { rows } = await this.db.query<Row>(
      `WITH created AS (
         INSERT INTO environments (id, name, template, status, owner, images, seed, ttl_seconds, expires_at, project, door, team, origin, access,
                                   seeded_at, snapshot_key, clone_strategy, parent_id, fork_depth, restore_from)
         VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7::int, now() + ($7::int * interval '1 second'), $8, $9, $10, $13, $14,
                 CASE WHEN $15::boolean THEN now() END, $16, $17, $18, $19, $20)
         ON CONFLICT (name) WHERE status <> 'destroyed' DO NOTHING RETURNING *),
       logged AS (INSERT INTO environment_events (environment_id, type, status, message, data)
                  SELECT id, 'requested', 'queued', $11, $12 FROM created)
       SELECT * FROM created`,
      [id, input.name, input.template, input.owner, input.images, input.seed, input.ttlSeconds, project, input.door ?? 'api', input.team ?? 'default',
        `requested by ${input.owner}: template ${input.template}, ttl ${input.ttlSeconds}s${standby ? ' (from the warm pool: its database is already cloned and started)' : ''}`,
        { images: input.images, seed: input.seed, ...(standby ? { pool: true } : {}), ...(input.restoreFrom ? { capsule: input.restoreFrom } : {}) }, input.origin ?? null, input.access ?? null,
        seeded, standby?.snapshotKey ?? null, standby?.cloneStrategy ?? null, input.parentId ?? null, input.forkDepth ?? 0, input.restoreFrom ?? null]);
    return rows[0] ? toEnvironment(rows[0]) : undefined;
  }

  /** The live forks of an environment (by its id), oldest first. */
  async liveForks(parentId: string): Promise<Environment[]> {
    const { rows } = await this.db.query<Row>(`SELECT * FROM environments WHERE parent_id = $1 AND status <> 'destroyed' ORDER BY created_at`, [parentId]);
    return rows.map(toEnvironment);
  }

  /** Starts the lease again: `seconds` from now (a PUT that names a ttl), with a `lease` event. */
  async renewLease(id: string, seconds: number, by: string): Promise<Environment | undefined> {
    const { rows } = await this.db.query<Row>(
      `WITH moved AS (UPDATE environments SET ttl_seconds = $2::int, expires_at = now() + ($2::int * interval '1 second'), updated_at = now()
                      WHERE id = $1 AND status <> 'destroyed' RETURNING *),
            logged AS (INSERT INTO environment_events (environment_id, type, status, message)
                       SELECT id, 'lease', status, $3 FROM moved)
       SELECT * FROM moved`, [id, seconds, `lease renewed by ${by}: expires in ${seconds}s`]);
    return rows[0] ? toEnvironment(rows[0]) : undefined;
  }

  /** Changes who may open its address (an `access` event says who did); undefined when it is destroyed. */
  async setAccess(id: string, access: Access, by: string): Promise<Environment | undefined> {
    const { rows } = await this.db.query<Row>(
      `WITH moved AS (UPDATE environments SET access = $2, updated_at = now() WHERE id = $1 AND status <> 'destroyed' RETURNING *),
            logged AS (INSERT INTO environment_events (environment_id, type, status, message, data)
                       SELECT id, 'access', status, $3, $4 FROM moved)
       SELECT * FROM moved`, [id, access, `access set to ${access} by ${by}`, { access }]);
    return rows[0] ? toEnvironment(rows[0]) : undefined;
  }

  /**
   * A ready environment's services answer somewhere else now (a multi-node runtime moved a task):
   * records the new endpoints and URLs with an `endpoints` event, only while it is still ready at
   * `generation` (a redeploy publishes its own). Undefined when that no longer holds.
   */
  async moveEndpoints(id: string, generation: number, endpoints: Record<string, string>, urls: Record<string, string>, message: string, data: Record<string, unknown>): Promise<Environment | undefined> {
    const { rows } = await this.db.query<Row>(
      `WITH moved AS (UPDATE environments SET endpoints = $3, urls = $4, updated_at = now()
                      WHERE id = $1 AND generation = $2 AND status = 'ready' RETURNING *),
            logged AS (INSERT INTO environment_events (environment_id, type, status, message, data)
                       SELECT id, 'endpoints', status, $5, $6 FROM moved)
       SELECT * FROM moved`, [id, generation, JSON.stringify(endpoints), JSON.stringify(urls), message, data]);
    return rows[0] ? toEnvironment(rows[0]) : undefined;
  }

  /** Records why a queued environment waits for capacity (and a `waiting` event when the reason changed). */
  async setWaitingReason(id: string, reason: string, message: string, data: Record<string, unknown>): Promise<void> {
    await this.db.query(
      `WITH w AS (UPDATE environments SET waiting_reason = $2 WHERE id = $1 AND waiting_reason IS DISTINCT FROM $2 RETURNING id, status)
       INSERT INTO environment_events (environment_id, type, status, message, data)
       SELECT id, 'waiting', status, $3, $4 FROM w`, [id, reason, message, data]);
  }

  /**
   * Moves an environment to `to` if its status allows it (and, when given, it is still at
   * `generation`), applying `set` and appending the event, in one statement. Returns the updated
   * environment, or undefined when the guard did not hold (someone else moved it first).
   */
  async transition(id: string, to: Status, opts: TransitionOptions): Promise<Environment | undefined> {
    const sources = opts.from ? sourcesOf(to).filter((s) => opts.from!.includes(s)) : sourcesOf(to);
    const args: unknown[] = [id, to, sources];
    const sets = ['status = $2', 'updated_at = now()'];
    for (const [col, value] of Object.entries(opts.set ?? {})) {
      if (!SETTABLE.has(col)) throw new Error(`transition: column ${col} is not settable`);
      if (value === NOW) { sets.push(`${col} = now()`); continue; }
      args.push(JSON_COLUMNS.has(col) ? JSON.stringify(value) : value);
      sets.push(`${col} = $${args.length}`);
    }
    if (opts.lease) {
      args.push(opts.lease.seconds);
      const n = args.length;
      const renew = opts.lease.mode === 'renew' ? 'true' : 'expires_at <= now()';
      sets.push(`ttl_seconds = CASE WHEN ${renew} THEN $${n}::int ELSE ttl_seconds END`,
        `expires_at = CASE WHEN ${renew} THEN now() + ($${n}::int * interval '1 second') ELSE expires_at END`);
    }
    if (opts.bumpGeneration) sets.push('generation = generation + 1');
    let guard = 'id = $1 AND status = ANY($3)';
    if (opts.generation !== undefined) { args.push(opts.generation); guard += ` AND generation = $${args.length}`; }
    if (opts.fence) {
      args.push(opts.fence.generation, opts.fence.epoch, opts.fence.statuses);
      guard += ` AND generation = $${args.length - 2} AND run_epoch = $${args.length - 1} AND status = ANY($${args.length})`;
    }
    if (opts.idleSeconds !== undefined) {
      args.push(opts.idleSeconds);
      guard += ` AND GREATEST(COALESCE(last_activity_at, '-infinity'), COALESCE(ready_at, '-infinity')) <= now() - ($${args.length}::int * interval '1 second')`;
    }
    args.push(opts.event.type, opts.event.message, opts.event.data ?? null);
    const n = args.length;
    const { rows } = await this.db.query<Row>(
      `WITH moved AS (UPDATE environments SET ${sets.join(', ')} WHERE ${guard} RETURNING *),
            logged AS (INSERT INTO environment_events (environment_id, type, status, message, data)
                       SELECT id, $${n - 2}, status, $${n - 1}, $${n} FROM moved)
       SELECT * FROM moved`, args);
    return rows[0] ? toEnvironment(rows[0]) : undefined;
  }

  /** Moves the lease: expiresAt = now + seconds. */
  async extend(id: string, seconds: number, by: string): Promise<Environment | undefined> {
    const { rows } = await this.db.query<Row>(
      `WITH moved AS (UPDATE environments SET expires_at = now() + ($2::int * interval '1 second'), updated_at = now()
                      WHERE id = $1 AND status = ANY($4) RETURNING *),
            logged AS (INSERT INTO environment_events (environment_id, type, status, message)
                       SELECT id, 'lease', status, $3 FROM moved)
       SELECT * FROM moved`, [id, seconds, `lease extended by ${by}: expires in ${seconds}s`, LEASED_STATUSES]);
    return rows[0] ? toEnvironment(rows[0]) : undefined;
  }

  /** Records which golden snapshot and strategy an environment's database came from. */
  async setSnapshot(id: string, key: string | null, strategy: string, fence?: RunFence): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE environments SET snapshot_key = $2, clone_strategy = $3, updated_at = now() WHERE id = $1
         AND ($4::int IS NULL OR (generation = $4 AND run_epoch = $5 AND status = ANY($6)))`,
      [id, key, strategy, fence?.generation ?? null, fence?.epoch ?? null, fence?.statuses ?? null]);
    return (rowCount ?? 0) > 0;
  }

  /** Records that the seed dataset was loaded into the environment's database volume. */
  async markSeeded(id: string, generation: number, fence?: RunFence): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE environments SET seeded_at = now(), updated_at = now() WHERE id = $1 AND generation = $2
         AND ($3::int IS NULL OR (run_epoch = $3 AND status = ANY($4)))`,
      [id, generation, fence?.epoch ?? null, fence?.statuses ?? null]);
    return (rowCount ?? 0) > 0;
  }

  /** Environments whose lease has run out and that are not already going away. */
  async expired(limit = 100): Promise<Environment[]> {
    const { rows } = await this.db.query<Row>(
      `SELECT * FROM environments WHERE expires_at <= now() AND status = ANY($2)
       ORDER BY expires_at LIMIT $1`, [limit, LEASED_STATUSES]);
    return rows.map(toEnvironment);
  }

  async withStatus(statuses: Status[], olderThanSeconds = 0): Promise<Environment[]> {
    const { rows } = await this.db.query<Row>(
      `SELECT * FROM environments WHERE status = ANY($1) AND updated_at <= now() - ($2::int * interval '1 second') ORDER BY updated_at LIMIT 500`,
      [statuses, olderThanSeconds]);
    return rows.map(toEnvironment);
  }

  /**
   * Records traffic through the router: each environment's latest activity (only ever moves
   * forward). One statement for a whole batch, flushed every few seconds by the router.
   */
  async recordActivity(batch: Map<string, Date>): Promise<void> {
    if (!batch.size) return;
    await this.db.query(
      `UPDATE environments e SET last_activity_at = GREATEST(COALESCE(e.last_activity_at, '-infinity'), a.at)
       FROM unnest($1::uuid[], $2::timestamptz[]) AS a(id, at) WHERE e.id = a.id`,
      [[...batch.keys()], [...batch.values()]]);
  }

  /** Ready environments of `template` with no traffic and not (re)started for `idleSeconds`. */
  async idle(template: string, idleSeconds: number, limit = 100): Promise<Environment[]> {
    const { rows } = await this.db.query<Row>(
      `SELECT * FROM environments WHERE status = 'ready' AND template = $1
         AND GREATEST(COALESCE(last_activity_at, '-infinity'), COALESCE(ready_at, '-infinity')) <= now() - ($2::int * interval '1 second')
       ORDER BY updated_at LIMIT $3`, [template, idleSeconds, limit]);
    return rows.map(toEnvironment);
  }

  /** How many events of this type the environment has (at this generation, when given: `data.generation`). */
  async countEvents(environmentId: string, type: string, generation?: number): Promise<number> {
    const { rows } = await this.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM environment_events WHERE environment_id = $1 AND type = $2
         AND ($3::int IS NULL OR (data->>'generation')::int = $3::int)`, [environmentId, type, generation ?? null]);
    return Number(rows[0]!.n);
  }

  /** How many events of this type the environment has since `since`, and when the latest was. */
  async eventsSince(environmentId: string, type: string, since: Date): Promise<{ count: number; lastAt: Date | undefined }> {
    const { rows } = await this.db.query<{ n: string; last: Date | null }>(
      `SELECT count(*) AS n, max(at) AS last FROM environment_events WHERE environment_id = $1 AND type = $2 AND at >= $3`,
      [environmentId, type, since]);
    return { count: Number(rows[0]!.n), lastAt: rows[0]!.last ?? undefined };
  }

  /**
   * Which of these environments were ever ready (any generation): those hold a tester's data,
   * which a failure keeps until the lease ends (see worker/jobs/fail.ts).
   */
  async everReady(ids: string[]): Promise<Set<string>> {
    if (!ids.length) return new Set();
    const { rows } = await this.db.query<{ id: string }>(
      `SELECT DISTINCT environment_id AS id FROM environment_events WHERE environment_id = ANY($1::uuid[]) AND type = 'ready'`, [ids]);
    return new Set(rows.map((r) => r.id));
  }

  /** Ids of environments that may still own Docker objects. */
  async liveIds(ids: string[]): Promise<Set<string>> {
    if (!ids.length) return new Set();
    const { rows } = await this.db.query<{ id: string }>(
      // A warm-pool standby's objects are labeled with the id reserved for its claimant: live too.
      `SELECT id FROM environments WHERE id = ANY($1::uuid[]) AND status <> 'destroyed'
       UNION SELECT id FROM pool_standbys WHERE id = ANY($1::uuid[])`, [ids]);
    return new Set(rows.map((r) => r.id));
  }

  /** How many environments are in each status, per template (the metrics gauge). */
  async countByStatus(): Promise<{ status: Status; template: string; count: number }[]> {
    const { rows } = await this.db.query<{ status: Status; template: string; count: string }>(
      'SELECT status, template, count(*) AS count FROM environments GROUP BY status, template');
    return rows.map((r) => ({ status: r.status, template: r.template, count: Number(r.count) }));
  }
}
