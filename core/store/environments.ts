import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { ConflictError } from '../domain/errors.js';
import { LEASED_STATUSES, sourcesOf, type Door, type Environment, type EnvironmentEvent, type Status } from '../domain/environment.js';

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
  destroy_reason: string | null; destroyed_by: string | null; seeded_at: Date | null;
  created_at: Date; updated_at: Date; ready_at: Date | null; destroyed_at: Date | null;
  snapshot_key: string | null; clone_strategy: string | null;
  run_epoch?: number;
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
    snapshotKey: r.snapshot_key, cloneStrategy: r.clone_strategy,
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
}

export type UpsertAction = 'created' | 'redeployed' | 'unchanged';

/**
 * Runs inside upsert's transaction after a create or redeploy and before the commit (admission
 * for a caller that will not wait): it may move the environment on, or throw to create nothing.
 */
export type AdmitHook = (client: pg.PoolClient, envId: string) => Promise<void>;

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
  /** Column updates that go with the move (whitelisted below). */
  set?: Partial<Record<'digests' | 'urls' | 'endpoints' | 'failure_code' | 'failure_message' | 'destroy_reason' | 'destroyed_by' | 'seeded_at' | 'ready_at' | 'destroyed_at', unknown>>;
  /** Only from these statuses (narrower than every allowed source of `to`). */
  from?: Status[];
  /** Only if no traffic went through the router for this long (and it has been ready that long). */
  idleSeconds?: number;
  /** Bump the generation (a redeploy). */
  bumpGeneration?: boolean;
  event: { type: string; message: string; data?: Record<string, unknown> };
}

const SETTABLE = new Set(['digests', 'urls', 'endpoints', 'failure_code', 'failure_message', 'destroy_reason', 'destroyed_by', 'seeded_at', 'ready_at', 'destroyed_at']);
const JSON_COLUMNS = new Set(['digests', 'urls', 'endpoints']);

/** The compose project name: readable, and unique even when a name is reused. */
export function projectName(name: string, id: string): string {
  return `${name}-${id.slice(0, 8)}`;
}

export class EnvironmentStore {
  constructor(private readonly pool: pg.Pool) {}

  async getById(id: string): Promise<Environment | undefined> {
    const { rows } = await this.pool.query<Row>('SELECT * FROM environments WHERE id = $1', [id]);
    return rows[0] ? toEnvironment(rows[0]) : undefined;
  }

  /** The live environment with this name, else the most recently destroyed one (to say why it went). */
  async getByName(name: string): Promise<Environment | undefined> {
    const { rows } = await this.pool.query<Row>(
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
    const { rows } = await this.pool.query<Row>(
      `SELECT * FROM environments ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC LIMIT $${args.length}`, args);
    return rows.map(toEnvironment);
  }

  async events(environmentId: string, afterId = 0): Promise<EnvironmentEvent[]> {
    const { rows } = await this.pool.query(
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
    const { rowCount } = await this.pool.query(
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
    const { rows } = await this.pool.query<Row>(
      `UPDATE environments SET run_epoch = run_epoch + 1 WHERE id = $1 AND generation = $2 AND status = ANY($3) RETURNING *`,
      [id, generation, statuses]);
    return rows[0] ? { env: toEnvironment(rows[0]), epoch: rows[0].run_epoch ?? 0 } : undefined;
  }

  /** The current row and its run epoch, for a fence to judge (worker/jobs/fence.ts). */
  async runState(id: string): Promise<RunState | undefined> {
    const { rows } = await this.pool.query<Row>('SELECT * FROM environments WHERE id = $1', [id]);
    return rows[0] ? { env: toEnvironment(rows[0]), epoch: rows[0].run_epoch ?? 0 } : undefined;
  }

  /**
   * Creates the environment, or (PUT semantics) redeploys the live one of that name when its
   * images changed or it failed. Concurrent calls for one name give one environment: the
   * partial unique index decides, and the loser reads the winner's row.
   */
  async upsert(input: NewEnvironment, opts: {
    ttlGiven: boolean; createOnly?: boolean; forceRedeploy?: boolean;
    /** Throws when the caller may not change the existing environment (another team's): checked under its row lock. */
    authorize?: (existing: Environment) => void;
    /** Admission (core/app/admission.ts): may take capacity for it in this same transaction. */
    admit?: AdmitHook;
  }): Promise<{ env: Environment; action: UpsertAction }> {
    // The common repeat (CI's PUT on every push, nothing new): answered from one read, without a
    // transaction or the row lock, so repeats of one name do not queue behind each other. Anything
    // that may write (a change, a failed one to retry, a lease to renew) takes the locked path.
    if (!opts.ttlGiven && !opts.forceRedeploy && !opts.createOnly) {
      const { rows } = await this.pool.query<Row>(`SELECT * FROM environments WHERE name = $1 AND status <> 'destroyed'`, [input.name]);
      const current = rows[0] ? toEnvironment(rows[0]) : undefined;
      if (current && current.status !== 'failed' && current.status !== 'destroying' && current.template === input.template
        && (current.seed ?? null) === (input.seed ?? null) && sameImages(current.images, input.images)) {
        opts.authorize?.(current);
        return { env: current, action: 'unchanged' };
      }
    }
    const admitted = async (client: pg.PoolClient, row: Row): Promise<Environment> => {
      if (!opts.admit) return toEnvironment(row);
      await opts.admit(client, row.id);
      const { rows } = await client.query<Row>('SELECT * FROM environments WHERE id = $1', [row.id]);
      return toEnvironment(rows[0]!);
    };
    for (let attempt = 0; attempt < 5; attempt++) {
      const client = await this.pool.connect();
      try {
        await client.query('BEGIN');
        const existing = await client.query<Row>(
          `SELECT * FROM environments WHERE name = $1 AND status <> 'destroyed' FOR UPDATE`, [input.name]);
        const row = existing.rows[0];
        if (!row) {
          const id = randomUUID();
          const inserted = await client.query<Row>(
            `INSERT INTO environments (id, name, template, status, owner, images, seed, ttl_seconds, expires_at, project, door, team)
             VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7::int, now() + ($7::int * interval '1 second'), $8, $9, $10)
             ON CONFLICT (name) WHERE status <> 'destroyed' DO NOTHING RETURNING *`,
            [id, input.name, input.template, input.owner, input.images, input.seed, input.ttlSeconds, projectName(input.name, id), input.door ?? 'api', input.team ?? 'default']);
          if (!inserted.rows[0]) { await client.query('ROLLBACK'); continue; } // lost a race: read the winner
          await client.query(
            `INSERT INTO environment_events (environment_id, type, status, message, data) VALUES ($1, 'requested', 'queued', $2, $3)`,
            [id, `requested by ${input.owner}: template ${input.template}, ttl ${input.ttlSeconds}s`, { images: input.images, seed: input.seed }]);
          const created = await admitted(client, inserted.rows[0]);
          await client.query('COMMIT');
          return { env: created, action: 'created' };
        }
        const env = toEnvironment(row);
        if (opts.createOnly) {
          await client.query('ROLLBACK');
          throw new ConflictError('NAME_TAKEN', `an environment named "${input.name}" already exists (status ${env.status}); use PUT to redeploy it`, { id: env.id });
        }
        if (env.status === 'destroying') {
          await client.query('ROLLBACK');
          throw new ConflictError('ENVIRONMENT_DESTROYING', `environment "${input.name}" is being torn down; try again when it is destroyed`, { id: env.id });
        }
        // Another team's environment: refused before anything about it changes.
        opts.authorize?.(env); // throws; the catch below rolls back
        if (env.template !== input.template) {
          await client.query('ROLLBACK');
          throw new ConflictError('TEMPLATE_MISMATCH', `environment "${input.name}" runs template "${env.template}", not "${input.template}"; destroy it first to change templates`, { id: env.id });
        }
        if ((env.seed ?? null) !== (input.seed ?? null)) {
          await client.query('ROLLBACK');
          throw new ConflictError('SEED_MISMATCH', `environment "${input.name}" was seeded with "${env.seed}", not "${input.seed}"; destroy it first to change datasets`, { id: env.id });
        }
        const imagesChanged = !sameImages(env.images, input.images);
        if (imagesChanged || env.status === 'failed' || opts.forceRedeploy) {
          // A redeploy keeps the lease it has unless the request names a ttl (a new tag is not a
          // new lease); a lease that already ran out starts again, or the redeploy would be torn down at once.
          const moved = await client.query<Row>(
            `UPDATE environments SET status = 'queued', generation = generation + 1, images = $2,
               ttl_seconds = CASE WHEN $4::boolean OR expires_at <= now() THEN $3::int ELSE ttl_seconds END,
               expires_at = CASE WHEN $4::boolean OR expires_at <= now() THEN now() + ($3::int * interval '1 second') ELSE expires_at END,
               failure_code = NULL, failure_message = NULL, ready_at = NULL, updated_at = now()
             WHERE id = $1 RETURNING *`, [env.id, input.images, input.ttlSeconds, opts.ttlGiven]);
          const why = env.status === 'failed' ? 'retry after failure' : imagesChanged ? 'new images' : 'new commit';
          await client.query(
            `INSERT INTO environment_events (environment_id, type, status, message, data) VALUES ($1, 'redeploy', 'queued', $2, $3)`,
            [env.id, `redeploy requested by ${input.owner} (${why})`, { images: input.images, previous: env.images, generation: moved.rows[0]!.generation }]);
          const redeployed = await admitted(client, moved.rows[0]!);
          await client.query('COMMIT');
          return { env: redeployed, action: 'redeployed' };
        }
        if (opts.ttlGiven) {
          const renewed = await client.query<Row>(
            `UPDATE environments SET ttl_seconds = $2::int, expires_at = now() + ($2::int * interval '1 second'), updated_at = now()
             WHERE id = $1 RETURNING *`, [env.id, input.ttlSeconds]);
          await client.query(
            `INSERT INTO environment_events (environment_id, type, status, message) VALUES ($1, 'lease', $2, $3)`,
            [env.id, env.status, `lease renewed by ${input.owner}: expires in ${input.ttlSeconds}s`]);
          await client.query('COMMIT');
          return { env: toEnvironment(renewed.rows[0]!), action: 'unchanged' };
        }
        await client.query('COMMIT');
        return { env, action: 'unchanged' };
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    }
    throw new ConflictError('CONCURRENT_UPDATE', `environment "${input.name}" changed concurrently too often; try again`);
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
      args.push(JSON_COLUMNS.has(col) ? JSON.stringify(value) : value);
      sets.push(`${col} = $${args.length}`);
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
    const { rows } = await this.pool.query<Row>(
      `WITH moved AS (UPDATE environments SET ${sets.join(', ')} WHERE ${guard} RETURNING *),
            logged AS (INSERT INTO environment_events (environment_id, type, status, message, data)
                       SELECT id, $${n - 2}, status, $${n - 1}, $${n} FROM moved)
       SELECT * FROM moved`, args);
    return rows[0] ? toEnvironment(rows[0]) : undefined;
  }

  /** Moves the lease: expiresAt = now + seconds. */
  async extend(id: string, seconds: number, by: string): Promise<Environment | undefined> {
    const { rows } = await this.pool.query<Row>(
      `WITH moved AS (UPDATE environments SET expires_at = now() + ($2::int * interval '1 second'), updated_at = now()
                      WHERE id = $1 AND status = ANY($4) RETURNING *),
            logged AS (INSERT INTO environment_events (environment_id, type, status, message)
                       SELECT id, 'lease', status, $3 FROM moved)
       SELECT * FROM moved`, [id, seconds, `lease extended by ${by}: expires in ${seconds}s`, LEASED_STATUSES]);
    return rows[0] ? toEnvironment(rows[0]) : undefined;
  }

  /** Records which golden snapshot and strategy an environment's database came from. */
  async setSnapshot(id: string, key: string | null, strategy: string, fence?: RunFence): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE environments SET snapshot_key = $2, clone_strategy = $3, updated_at = now() WHERE id = $1
         AND ($4::int IS NULL OR (generation = $4 AND run_epoch = $5 AND status = ANY($6)))`,
      [id, key, strategy, fence?.generation ?? null, fence?.epoch ?? null, fence?.statuses ?? null]);
    return (rowCount ?? 0) > 0;
  }

  /**
   * Asks for the database to go back to its seed: a new generation that re-seeds (the
   * provisioning job replaces only the database volume and container; other services stay).
   */
  async requestReset(id: string, by: string): Promise<Environment | undefined> {
    const { rows } = await this.pool.query<Row>(
      `WITH moved AS (UPDATE environments SET status = 'queued', generation = generation + 1, seeded_at = NULL,
                        failure_code = NULL, failure_message = NULL, updated_at = now()
                      WHERE id = $1 AND status IN ('ready', 'sleeping', 'failed') AND seed IS NOT NULL RETURNING *),
            logged AS (INSERT INTO environment_events (environment_id, type, status, message)
                       SELECT id, 'reset-db', status, $2 FROM moved)
       SELECT * FROM moved`, [id, `database reset to its seed requested by ${by}`]);
    return rows[0] ? toEnvironment(rows[0]) : undefined;
  }

  /** Records that the seed dataset was loaded into the environment's database volume. */
  async markSeeded(id: string, generation: number, fence?: RunFence): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE environments SET seeded_at = now(), updated_at = now() WHERE id = $1 AND generation = $2
         AND ($3::int IS NULL OR (run_epoch = $3 AND status = ANY($4)))`,
      [id, generation, fence?.epoch ?? null, fence?.statuses ?? null]);
    return (rowCount ?? 0) > 0;
  }

  /** Environments whose lease has run out and that are not already going away. */
  async expired(limit = 100): Promise<Environment[]> {
    const { rows } = await this.pool.query<Row>(
      `SELECT * FROM environments WHERE expires_at <= now() AND status = ANY($2)
       ORDER BY expires_at LIMIT $1`, [limit, LEASED_STATUSES]);
    return rows.map(toEnvironment);
  }

  async withStatus(statuses: Status[], olderThanSeconds = 0): Promise<Environment[]> {
    const { rows } = await this.pool.query<Row>(
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
    await this.pool.query(
      `UPDATE environments e SET last_activity_at = GREATEST(COALESCE(e.last_activity_at, '-infinity'), a.at)
       FROM unnest($1::uuid[], $2::timestamptz[]) AS a(id, at) WHERE e.id = a.id`,
      [[...batch.keys()], [...batch.values()]]);
  }

  /** Ready environments of `template` with no traffic and not (re)started for `idleSeconds`. */
  async idle(template: string, idleSeconds: number, limit = 100): Promise<Environment[]> {
    const { rows } = await this.pool.query<Row>(
      `SELECT * FROM environments WHERE status = 'ready' AND template = $1
         AND GREATEST(COALESCE(last_activity_at, '-infinity'), COALESCE(ready_at, '-infinity')) <= now() - ($2::int * interval '1 second')
       ORDER BY updated_at LIMIT $3`, [template, idleSeconds, limit]);
    return rows.map(toEnvironment);
  }

  /** How many events of this type the environment has (at this generation, when given: `data.generation`). */
  async countEvents(environmentId: string, type: string, generation?: number): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM environment_events WHERE environment_id = $1 AND type = $2
         AND ($3::int IS NULL OR (data->>'generation')::int = $3::int)`, [environmentId, type, generation ?? null]);
    return Number(rows[0]!.n);
  }

  /** How many events of this type the environment has since `since`, and when the latest was. */
  async eventsSince(environmentId: string, type: string, since: Date): Promise<{ count: number; lastAt: Date | undefined }> {
    const { rows } = await this.pool.query<{ n: string; last: Date | null }>(
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
    const { rows } = await this.pool.query<{ id: string }>(
      `SELECT DISTINCT environment_id AS id FROM environment_events WHERE environment_id = ANY($1::uuid[]) AND type = 'ready'`, [ids]);
    return new Set(rows.map((r) => r.id));
  }

  /** Ids of environments that may still own Docker objects. */
  async liveIds(ids: string[]): Promise<Set<string>> {
    if (!ids.length) return new Set();
    const { rows } = await this.pool.query<{ id: string }>(
      `SELECT id FROM environments WHERE id = ANY($1::uuid[]) AND status <> 'destroyed'`, [ids]);
    return new Set(rows.map((r) => r.id));
  }

  /** How many environments are in each status, per template (the metrics gauge). */
  async countByStatus(): Promise<{ status: Status; template: string; count: number }[]> {
    const { rows } = await this.pool.query<{ status: Status; template: string; count: string }>(
      'SELECT status, template, count(*) AS count FROM environments GROUP BY status, template');
    return rows.map((r) => ({ status: r.status, template: r.template, count: Number(r.count) }));
  }
}

/** Whether two service → image maps name the same images, whatever their key order. */
function sameImages(a: Record<string, string>, b: Record<string, string>): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

function sortKeys(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}
