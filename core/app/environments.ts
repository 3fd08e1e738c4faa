/**
 * The application service for environments: the one entry point of every door (REST, the web
 * pages, Slack, GitHub, the CLI through REST) and of the worker's jobs for what they decide about
 * an environment's record. Each method authorizes (core/app/authorization.ts), decides, writes
 * through the store's guarded transition (the only status writer) and queues the work.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Admission } from './admission.js';
import type { AuditSubject, AuditTrail } from './audit.js';
import { authorize, environmentTarget, type Action } from './authorization.js';
import { bounded, queueDeploy, type Delivery } from './delivery.js';
import { NAME_PATTERN, REDEPLOY_FROM, RESET_FROM, forkName, pinnedImages, sameImages, type DestroyReason, type Environment, type Status } from '../domain/environment.js';
import { parseDuration } from '../domain/duration.js';
import { ConflictError, InputError, MayflyError, NotFoundError } from '../domain/errors.js';
import { systemActor, type Principal } from '../domain/principal.js';
import type { Logger } from '../platform/log.js';
import type { JobQueues } from '../queue/jobs.js';
import type { TemplateCatalog } from '../catalog/templates.js';
import type { DatasetCatalog } from '../catalog/datasets.js';
import type { EnvironmentStore, NewEnvironment, RunFence } from '../store/environments.js';
import type { DatasetService } from './datasets.js';
import { CHECKPOINT_ID, CheckpointStore, type Checkpoint, type CheckpointReason } from '../store/checkpoints.js';
import type { DataWorkflowsConfig } from '../config/datasets.js';
import { DIGEST_PATTERN } from '../domain/image-ref.js';

export type { Delivery } from './delivery.js';
export type DeployAction = 'created' | 'redeployed' | 'unchanged';

import { claimStandby } from './pool.js';
import { PoolStore } from '../store/warm-pool.js';

export interface EnvironmentServiceDeps {
  store: EnvironmentStore;
  queues: JobQueues;
  catalog: TemplateCatalog;
  logger: Logger;
  /** Admission limits; without it every request is queued and the worker admits. */
  admission?: Admission;
  /** Saved datasets: the name and the team's limits of a save (the web process has it; jobs need not). */
  savedDatasets?: DatasetService;
  /** Where every action is recorded (who, what, which environment, which door, allowed or denied). */
  audit?: AuditTrail;
  /** Checkpoints of databases (recorded here, taken by the worker); without it none are taken. */
  checkpoints?: CheckpointStore;
  /** Checkpoints kept per environment and how deep forks go (defaults: 5 and 2). */
  dataWorkflows?: DataWorkflowsConfig;
  /**
   * seed-data/: a deploy naming a dataset whose dataset.yml is wrong is refused when asked for
   * (400, field seed), not when its data is loaded. Without it the worker alone finds out.
   */
  seedDatasets?: DatasetCatalog;
}

/** Statuses in which an environment's database is there to be checkpointed (or forked). */
const HAS_DATA: readonly Status[] = ['ready', 'sleeping'];

export interface DeployOptions {
  /** The request named a ttl: the lease starts again. */
  ttlGiven: boolean;
  /** Redeploy even when nothing changed (a new commit at the same tag). */
  forceRedeploy?: boolean;
  /** POST: refuse a name that exists (409 NAME_TAKEN). */
  createOnly?: boolean;
  /** How long a name being torn down is waited for before ENVIRONMENT_DESTROYING. */
  waitDestroyingMs?: number;
  /** Past an admission limit, refuse (429) and create nothing instead of waiting in line. */
  noQueue?: boolean;
  /**
   * A door acting on its own (GitHub): it may change only an environment it created from this
   * origin; another's of the same name is refused (409 NOT_THIS_ORIGIN) and left alone.
   */
  origin?: string;
}

/** A failure a job decided on: what the record says (see worker/jobs/fail.ts for the clean-up). */
export interface FailureRecord {
  /** The status it may fail from (the guard), at the environment's generation. */
  from: Extract<Status, 'provisioning' | 'ready' | 'sleeping'>;
  code: string;
  message: string;
  data?: Record<string, unknown>;
}

export class EnvironmentService {
  constructor(private readonly deps: EnvironmentServiceDeps) {}

  /** The live environment with this name, else the latest destroyed one; 404 when there is none. */
  async find(name: string): Promise<Environment> {
    const env = await this.deps.store.getByName(name);
    if (!env) throw new NotFoundError('ENVIRONMENT_NOT_FOUND', `no environment named "${name}"`);
    return env;
  }

  /**
   * Create-or-redeploy (PUT semantics): a new environment records the actor's team; an existing
   * one is redeployed when its images changed, it failed, or `forceRedeploy`; asking again with
   * nothing new is a no-op (a ttl renews the lease). Another team's environment is refused (403)
   * before anything changes; a name being torn down is waited for up to `waitDestroyingMs`.
   */
  async deploy(actor: Principal, input: NewEnvironment, opts: DeployOptions): Promise<{ env: Environment; action: DeployAction; delivery: Delivery }> {
    return this.audited(actor, (r) => (r.action === 'created' ? 'environment.create' : r.action === 'redeployed' ? 'environment.redeploy' : opts.ttlGiven ? 'environment.extend' : undefined),
      { name: input.name }, { template: input.template, images: input.images, ...(input.seed ? { seed: input.seed } : {}) },
      () => this.deployUnaudited(actor, input, opts), (r) => ({ id: r.env.id, name: r.env.name }));
  }

  private async deployUnaudited(actor: Principal, input: NewEnvironment, opts: DeployOptions): Promise<{ env: Environment; action: DeployAction; delivery: Delivery }> {
    authorize(actor, 'environment.create');
    this.deps.admission?.assertCanEverFit(input.template);
    await this.assertSeedReadable(input);
    const request = { ...input, team: input.team ?? actor.team, ...(opts.origin !== undefined ? { origin: opts.origin } : {}) };
    const deadline = Date.now() + (opts.waitDestroyingMs ?? 0);
    let result: { env: Environment; action: DeployAction };
    for (;;) {
      try {
        result = await this.recordDeploy(actor, request, opts);
        break;
      } catch (err) {
        if (err instanceof ConflictError && err.code === 'ENVIRONMENT_DESTROYING' && Date.now() < deadline) {
          await sleep(300);
          continue;
        }
        throw err;
      }
    }
    const { env, action } = result;
    let delivery: Delivery = 'queued';
    if (action !== 'unchanged') delivery = await queueDeploy(this.deps, env);
    else if (opts.ttlGiven) await bounded(this.deps.queues.scheduleExpiry(env.id, env.expiresAt)).catch(() => undefined);
    return { ...result, delivery };
  }

  /**
   * A dataset of seed-data/ whose definition is wrong (dataset.yml that does not parse, a mask
   * rule with no known generator or a malformed column reference: INVALID_DATASET) is refused
   * before anything is stored or queued, naming the field `seed`: the worker would refuse to load
   * it anyway, later. Skipped for a fork (it copies its parent's data, never the seed) and for an
   * environment that already holds this seed's data (a redeploy keeps it). Whether a rule's column
   * exists is known only once the data is loaded: the golden build checks that (MASK_RULE_INVALID).
   */
  private async assertSeedReadable(input: NewEnvironment): Promise<void> {
    const datasets = this.deps.seedDatasets;
    if (!datasets || !input.seed || input.parentId !== undefined) return;
    const current = await this.deps.store.getLive(input.name);
    if (current && current.seed === input.seed && current.seededAt) return;
    try {
      await datasets.get(input.seed);
    } catch (err) {
      // Not in seed-data/ (a saved dataset, or a name the request check already refused): not ours to judge here.
      if (err instanceof MayflyError && err.code === 'INVALID_DATASET') {
        throw new InputError('invalid request: seed', [{ field: 'seed', message: err.message }]);
      }
    }
  }

  /**
   * The decision and the write of deploy(), without queueing the work (the reconciler delivers a
   * recorded request whose job was lost): one transaction holding the live row's lock.
   */
  async recordDeploy(actor: Principal, input: NewEnvironment, opts: DeployOptions): Promise<{ env: Environment; action: DeployAction }> {
    const { store } = this.deps;
    input = { ...input, team: input.team ?? actor.team, ...(opts.origin !== undefined ? { origin: opts.origin } : {}) };
    // The common repeat (CI's PUT on every push, nothing new): answered from one read, without a
    // transaction or the row lock, so repeats of one name do not queue behind each other. Anything
    // that may write (a change, a failed one to retry, a lease to renew) takes the locked path.
    if (!opts.ttlGiven && !opts.forceRedeploy && !opts.createOnly) {
      const current = await store.getLive(input.name);
      if (current && current.status !== 'failed' && current.status !== 'destroying' && current.template === input.template
        && (current.seed ?? null) === (input.seed ?? null) && sameImages(current.images, input.images)
        && (input.access === undefined || input.access === current.access)) {
        authorize(actor, 'environment.redeploy', environmentTarget(current));
        if (opts.origin !== undefined) assertOrigin(current, opts.origin);
        return { env: current, action: 'unchanged' };
      }
    }
    // Admission for a caller that will not wait: inside the same transaction, so a refusal creates nothing.
    const admission = opts.noQueue && this.deps.admission?.limited ? this.deps.admission : undefined;
    for (let attempt = 0; attempt < 5; attempt++) {
      const outcome = await store.transaction(async (tx, client) => {
        const admitted = async (env: Environment) => {
          if (!admission) return env;
          await admission.startNowOrRefuse(client, env.id);
          return (await tx.getById(env.id))!;
        };
        const env = await tx.getLive(input.name, { lock: true });
        if (!env) {
          // A warm-pool standby, when the template keeps one current for this request (core/app/pool.ts).
          // (Never for an environment whose data comes from elsewhere: a bug capsule's.)
          const standby = this.deps.catalog.has(input.template) && !input.restoreFrom
            ? await claimStandby(new PoolStore(client), this.deps.catalog.get(input.template), input.seed ?? null) : undefined;
          const created = await tx.create(input, standby);
          return created ? { env: await admitted(created), action: 'created' as const } : undefined; // lost a race: read the winner
        }
        if (opts.createOnly) throw new ConflictError('NAME_TAKEN', `an environment named "${input.name}" already exists (status ${env.status}); use PUT to redeploy it`, { id: env.id });
        if (env.status === 'destroying') throw new ConflictError('ENVIRONMENT_DESTROYING', `environment "${input.name}" is being torn down; try again when it is destroyed`, { id: env.id });
        // Another team's environment: refused before anything about it changes.
        authorize(actor, 'environment.redeploy', environmentTarget(env));
        if (opts.origin !== undefined) assertOrigin(env, opts.origin);
        if (env.template !== input.template) {
          throw new ConflictError('TEMPLATE_MISMATCH', `environment "${input.name}" runs template "${env.template}", not "${input.template}"; destroy it first to change templates`, { id: env.id });
        }
        if ((env.seed ?? null) !== (input.seed ?? null)) {
          throw new ConflictError('SEED_MISMATCH', `environment "${input.name}" was seeded with "${env.seed}", not "${input.seed}"; destroy it first to change datasets`, { id: env.id });
        }
        const imagesChanged = !sameImages(env.images, input.images);
        if (imagesChanged || env.status === 'failed' || opts.forceRedeploy) {
          const why = env.status === 'failed' ? 'retry after failure' : imagesChanged ? 'new images' : 'new commit';
          // A redeploy keeps the lease it has unless the request names a ttl (a new tag is not a new lease).
          const moved = await tx.transition(env.id, 'queued', {
            from: [...REDEPLOY_FROM], generation: env.generation, bumpGeneration: true,
            set: { images: input.images, failure_code: null, failure_message: null, ready_at: null, ...(input.access !== undefined ? { access: input.access } : {}) },
            lease: { seconds: input.ttlSeconds, mode: opts.ttlGiven ? 'renew' : 'keep' },
            event: { type: 'redeploy', message: `redeploy requested by ${input.owner} (${why})`, data: { images: input.images, previous: env.images, generation: env.generation + 1 } },
          });
          if (!moved) throw new ConflictError('CONCURRENT_UPDATE', `environment "${input.name}" changed while it was being redeployed; try again`);
          await this.recordAutoCheckpoint(client, env, moved, 'before-redeploy', input.owner);
          return { env: await admitted(moved), action: 'redeployed' as const };
        }
        // A new access setting alone is no redeploy: it is recorded (with its event) and applies at once.
        let current = env;
        if (input.access !== undefined && input.access !== env.access) current = (await tx.setAccess(env.id, input.access, actor.name)) ?? env;
        if (opts.ttlGiven) return { env: (await tx.renewLease(env.id, input.ttlSeconds, input.owner)) ?? current, action: 'unchanged' as const };
        return { env: current, action: 'unchanged' as const };
      });
      if (outcome) return outcome;
    }
    throw new ConflictError('CONCURRENT_UPDATE', `environment "${input.name}" changed concurrently too often; try again`);
  }

  /** Moves the lease's end to `ttl` from now (a duration such as "2h"), within the template's maximum. */
  extend(actor: Principal, env: Environment, ttl: unknown): Promise<Environment> {
    return this.audited(actor, 'environment.extend', env, { ttl: typeof ttl === 'string' ? ttl : String(ttl) }, () => this.extendUnaudited(actor, env, ttl));
  }

  private async extendUnaudited(actor: Principal, env: Environment, ttl: unknown): Promise<Environment> {
    authorize(actor, 'environment.extend', environmentTarget(env));
    const { catalog, store, queues } = this.deps;
    const seconds = parseDuration(ttl);
    const max = catalog.has(env.template) ? catalog.get(env.template).ttl.maxSeconds : seconds ?? 0;
    if (seconds === undefined) throw new InputError('invalid request: ttl', [{ field: 'ttl', message: 'is required: a duration such as "2h" from now' }]);
    if (seconds > max) throw new InputError('invalid request: ttl', [{ field: 'ttl', message: `is longer than the template's maximum of ${max} s` }]);
    const moved = await store.extend(env.id, seconds, actor.name);
    if (!moved) throw new ConflictError('ENVIRONMENT_GONE', `environment "${env.name}" is ${env.status}; it cannot be extended`);
    // The new end is in the row; a lost expiry job is rescheduled by the reconciler.
    await bounded(queues.scheduleExpiry(moved.id, moved.expiresAt)).catch(() => undefined);
    return moved;
  }

  /** Replaces the environment's database with a fresh clone of its seed (a new generation). */
  reset(actor: Principal, env: Environment): Promise<Environment> {
    return this.audited(actor, 'environment.reset', env, { seed: env.seed }, () => this.resetUnaudited(actor, env));
  }

  private async resetUnaudited(actor: Principal, env: Environment): Promise<Environment> {
    authorize(actor, 'environment.reset', environmentTarget(env));
    if (!env.seed) throw new ConflictError('NO_SEED', `environment "${env.name}" has no seed dataset to reset to`);
    const moved = await this.deps.store.transaction(async (tx, client) => {
      const m = await tx.transition(env.id, 'queued', {
        from: [...RESET_FROM], bumpGeneration: true,
        set: { seeded_at: null, failure_code: null, failure_message: null, restore_from: null },
        event: { type: 'reset-db', message: `database reset to its seed requested by ${actor.name}` },
      });
      if (m) await this.recordAutoCheckpoint(client, env, m, 'before-reset', actor.name);
      return m;
    });
    if (!moved) throw new ConflictError('NOT_RESETTABLE', `environment "${env.name}" is ${env.status}; its database can be reset when it is ready or failed`);
    await queueDeploy(this.deps, moved);
    return moved;
  }

  /**
   * Asks for the environment to go away: records why and who, then queues its teardown.
   * Idempotent: one already going or gone is returned as it is.
   */
  async destroy(actor: Principal, env: Environment, reason: DestroyReason = 'destroyed'): Promise<Environment> {
    if (env.status === 'destroyed') return env;
    return this.audited(actor, 'environment.destroy', env, { reason }, () => this.destroyUnaudited(actor, env, reason));
  }

  private async destroyUnaudited(actor: Principal, env: Environment, reason: DestroyReason): Promise<Environment> {
    authorize(actor, 'environment.destroy', environmentTarget(env));
    const { store, queues } = this.deps;
    const moved = await store.transition(env.id, 'destroying', {
      set: { destroy_reason: reason, destroyed_by: actor.name },
      event: { type: 'destroy', message: reason === 'expired' ? 'lease expired: tearing down' : `destroy requested by ${actor.name} (${reason})`, data: { reason, by: actor.name } },
    });
    const current = moved ?? (await store.getById(env.id)) ?? env;
    // Its forks go with it, saying why (and theirs with them).
    for (const fork of await store.liveForks(env.id)) {
      await this.destroy(systemActor(`destroy of ${env.name}`, fork.team), fork, 'parent-destroyed').catch((err) => {
        this.deps.logger.warn({ err, envId: fork.id, parent: env.name }, `could not destroy fork "${fork.name}" of "${env.name}": the reconciler's expiry removes it when its lease ends; destroy it by hand meanwhile`);
      });
    }
    // The row is the request; the queue only delivers it. When Redis does not answer, the
    // reconciler queues the teardown of a destroying environment once it is back.
    if (current.status === 'destroying') {
      await bounded(queues.enqueueTeardown(env.id)).catch(async () => {
        await store.addEvent(env.id, 'queue-unavailable', 'recorded; the job queue (Redis) did not answer, so the teardown runs when Redis is back (the reconciler queues it)').catch(() => undefined);
      });
    }
    return current;
  }

  /** The lease ran out: destroyed with reason `expired`, by `ttl`. */
  expire(env: Environment): Promise<Environment> {
    return this.destroy(systemActor('ttl', env.team), env, 'expired');
  }

  /**
   * Saves the environment's database as a new dataset others can start from (the worker copies
   * it). Needs the right to manage the environment: the save stops its database for a moment and
   * copies its data. The dataset belongs to `actor` and its team, within the team's limits
   * (core/app/datasets.ts).
   */
  saveSnapshot(actor: Principal, env: Environment, name: unknown): Promise<{ dataset: string }> {
    return this.audited(actor, 'environment.snapshot', env, { dataset: typeof name === 'string' ? name : null }, () => this.saveSnapshotUnaudited(actor, env, name));
  }

  private async saveSnapshotUnaudited(actor: Principal, env: Environment, name: unknown): Promise<{ dataset: string }> {
    authorize(actor, 'environment.snapshot', environmentTarget(env));
    const { savedDatasets, queues } = this.deps;
    if (!savedDatasets) throw new Error('saveSnapshot needs the saved dataset service');
    const dataset = await savedDatasets.checkNewName(name);
    if (env.status !== 'ready') throw new ConflictError('NOT_READY', `environment "${env.name}" is ${env.status}; its database can be saved when it is ready`);
    if (!env.seed || !env.snapshotKey) throw new ConflictError('SNAPSHOTS_UNSUPPORTED', `environment "${env.name}" was not cloned from a snapshot (strategy ${env.cloneStrategy ?? 'none'}); saving needs a clone strategy`);
    await savedDatasets.checkRoom(actor, env);
    await queues.enqueueSaveSnapshot(env.id, dataset, actor.name, actor.team);
    return { dataset };
  }

  /**
   * Records a checkpoint taken before a redeploy, reset or rewind (in the transaction that moved the
   * environment, at its new generation): the provisioning job takes it first, while the old
   * database still runs. Only when there was a database to keep (it was ready or asleep).
   */
  private async recordAutoCheckpoint(client: import('pg').PoolClient, before: Environment, moved: Environment, reason: CheckpointReason, by: string): Promise<void> {
    if (!this.deps.checkpoints || !HAS_DATA.includes(before.status) || !this.hasDatabase(before)) return;
    await new CheckpointStore(client).add(moved, moved.generation, reason, by);
  }

  private hasDatabase(env: Environment): boolean {
    const { catalog } = this.deps;
    return catalog.has(env.template) && !!catalog.get(env.template).database;
  }

  private checkpointStore(): CheckpointStore {
    if (!this.deps.checkpoints) throw new Error('checkpoints need the checkpoint store (EnvironmentServiceDeps.checkpoints)');
    return this.deps.checkpoints;
  }

  /** The environment's live forks (anyone who may see it). */
  async forks(actor: Principal, env: Environment): Promise<Environment[]> {
    authorize(actor, 'environment.view', environmentTarget(env));
    return env.status === 'destroyed' ? [] : this.deps.store.liveForks(env.id);
  }

  /** The environment's checkpoints, newest first (anyone who may see it). */
  async checkpoints(actor: Principal, env: Environment): Promise<Checkpoint[]> {
    authorize(actor, 'environment.view', environmentTarget(env));
    return this.checkpointStore().list(env.id);
  }

  /**
   * Takes a checkpoint of the environment's database now (the worker pauses it for a moment and
   * copies it): recorded `pending`, ready when the worker took it. 409 when it is not ready or
   * asleep, or its template has no database.
   */
  checkpoint(actor: Principal, env: Environment): Promise<{ checkpoint: Checkpoint; delivery: Delivery }> {
    return this.audited(actor, 'environment.checkpoint', env, undefined, () => this.checkpointUnaudited(actor, env));
  }

  private async checkpointUnaudited(actor: Principal, env: Environment): Promise<{ checkpoint: Checkpoint; delivery: Delivery }> {
    authorize(actor, 'environment.checkpoint', environmentTarget(env));
    const store = this.checkpointStore();
    if (!HAS_DATA.includes(env.status)) throw new ConflictError('NOT_READY', `environment "${env.name}" is ${env.status}; a checkpoint is taken when it is ready`);
    if (!this.hasDatabase(env)) throw new ConflictError('NO_DATABASE', `template "${env.template}" of environment "${env.name}" has no database service; there is nothing to checkpoint`);
    const checkpoint = await store.add(env, env.generation, 'manual', actor.name);
    let delivery: Delivery = 'queued';
    await bounded(this.deps.queues.enqueueCheckpoint(env.id, checkpoint.id)).catch(() => {
      // Still recorded: the reconciler queues it once Redis answers (or a redeploy, reset or rewind takes it first).
      delivery = 'deferred';
    });
    return { checkpoint, delivery };
  }

  /**
   * Brings a checkpoint back: a new generation whose provisioning copies the checkpoint into the
   * database volume (a checkpoint of the current data is taken first, so a rewind can be undone).
   * An unknown checkpoint, another environment's, or one not ready is refused (400, field
   * `checkpoint`) and nothing changes.
   */
  rewind(actor: Principal, env: Environment, checkpoint: unknown): Promise<Environment> {
    return this.audited(actor, 'environment.rewind', env, { checkpoint: typeof checkpoint === 'string' ? checkpoint : null }, () => this.rewindUnaudited(actor, env, checkpoint));
  }

  private async rewindUnaudited(actor: Principal, env: Environment, checkpoint: unknown): Promise<Environment> {
    authorize(actor, 'environment.rewind', environmentTarget(env));
    const store = this.checkpointStore();
    const refuse = (message: string) => new InputError('invalid request: checkpoint', [{ field: 'checkpoint', message }]);
    if (typeof checkpoint !== 'string' || !CHECKPOINT_ID.test(checkpoint)) throw refuse('is required: a checkpoint id such as "cp-1a2b3c4d" (GET .../checkpoints lists them)');
    const cp = await store.get(checkpoint);
    if (!cp || cp.environmentId !== env.id || cp.status === 'removed') {
      throw refuse(`environment "${env.name}" has no checkpoint "${checkpoint}"; GET /api/v1/environments/${env.name}/checkpoints lists its checkpoints`);
    }
    if (cp.status !== 'ready') throw refuse(`checkpoint "${checkpoint}" is ${cp.status}${cp.error ? ` (${cp.error})` : ''}; only a ready checkpoint can be brought back`);
    const moved = await this.deps.store.transaction(async (tx, client) => {
      const m = await tx.transition(env.id, 'queued', {
        from: [...RESET_FROM], bumpGeneration: true,
        set: { seeded_at: null, failure_code: null, failure_message: null, restore_from: cp.id },
        event: { type: 'rewind', message: `rewind to checkpoint ${cp.id} (taken ${cp.reason} at ${cp.createdAt.toISOString()}) requested by ${actor.name}`, data: { checkpoint: cp.id } },
      });
      if (m) await this.recordAutoCheckpoint(client, env, m, 'before-rewind', actor.name);
      return m;
    });
    if (!moved) throw new ConflictError('NOT_RESETTABLE', `environment "${env.name}" is ${env.status}; its database can be rewound when it is ready, asleep or failed`);
    await queueDeploy(this.deps, moved);
    return moved;
  }

  /**
   * Forks an environment for a tester: `<name>--<for>`, the same template and image digests, and
   * a copy of the parent's current database (reflink: copy-on-write) made by its first
   * provisioning; writes stay in the fork. It counts against admission like any environment,
   * and goes when its parent goes (reason parent-destroyed). Refused (400 naming the field, nothing
   * created): a bad `for`, a name too long, a fork past MAYFLY_FORK_DEPTH_MAX.
   */
  fork(actor: Principal, parent: Environment, forWhom: unknown, opts: { door?: Environment['door']; noQueue?: boolean } = {}): Promise<{ env: Environment; delivery: Delivery }> {
    return this.audited(actor, 'environment.fork', parent, { for: typeof forWhom === 'string' ? forWhom : null },
      () => this.forkUnaudited(actor, parent, forWhom, opts));
  }

  private async forkUnaudited(actor: Principal, parent: Environment, forWhom: unknown, opts: { door?: Environment['door']; noQueue?: boolean }): Promise<{ env: Environment; delivery: Delivery }> {
    authorize(actor, 'environment.fork', environmentTarget(parent));
    const maxDepth = this.deps.dataWorkflows?.forkDepthMax ?? 2;
    if (typeof forWhom !== 'string' || !/^[a-z0-9][a-z0-9-]{0,30}$/.test(forWhom) || forWhom.includes('--')) {
      throw new InputError('invalid request: for', [{ field: 'for', message: 'is required: who the fork is for, 1-31 lowercase letters, digits and single "-" (e.g. "alice")' }]);
    }
    const name = forkName(parent.name, forWhom);
    if (!NAME_PATTERN.test(name)) {
      throw new InputError('invalid request: for', [{ field: 'for', message: `makes the name "${name}" (${name.length} characters); an environment name has at most 63: use a shorter "for"` }]);
    }
    if (parent.forkDepth + 1 > maxDepth) {
      throw new InputError('invalid request: name', [{ field: 'name', message: maxDepth === 0
        ? 'forks are turned off on this server (MAYFLY_FORK_DEPTH_MAX=0)'
        : `environment "${parent.name}" is a fork ${parent.forkDepth} deep; forks go at most ${maxDepth} deep (MAYFLY_FORK_DEPTH_MAX): fork an environment nearer the original instead` }]);
    }
    if (!HAS_DATA.includes(parent.status)) throw new ConflictError('NOT_READY', `environment "${parent.name}" is ${parent.status}; it can be forked when it is ready`);
    // The same images the parent runs: by digest where the pull recorded one (repo@sha256:...).
    const images = pinnedImages(parent.images, parent.digests, (d) => DIGEST_PATTERN.test(d));
    const { env, delivery } = await this.deployUnaudited(actor, {
      name, template: parent.template, owner: actor.name, images, seed: parent.seed, ttlSeconds: parent.ttlSeconds, door: opts.door ?? 'api',
      team: parent.team, parentId: parent.id, forkDepth: parent.forkDepth + 1, ...(parent.access ? { access: parent.access } : {}),
    }, { ttlGiven: true, createOnly: true, ...(opts.noQueue ? { noQueue: true } : {}) });
    return { env, delivery };
  }

  /** Runs an action through the audit trail (when there is one). */
  private audited<T>(actor: Principal, action: Action | ((result: T) => Action | undefined), subject: AuditSubject | undefined,
    details: Record<string, unknown> | undefined, work: () => Promise<T>, subjectOf?: (result: T) => AuditSubject): Promise<T> {
    const audit = this.deps.audit;
    return audit ? audit.around(actor, action, subject, details, work, subjectOf) : work();
  }

  /**
   * Records a job's decision that the environment failed: a guarded transition to `failed` at its
   * generation (with a job run's fence, only while that run owns it). An environment that was ever
   * ready holds a tester's data, which is kept (`keepData`) until its lease ends. Undefined when
   * someone else moved it first.
   */
  async recordFailure(env: Environment, failure: FailureRecord, recoveryHint: string, fence?: RunFence): Promise<{ env: Environment; keepData: boolean } | undefined> {
    const { store } = this.deps;
    const keepData = (await store.everReady([env.id])).has(env.id);
    const message = keepData ? `${failure.message}. ${recoveryHint}` : failure.message;
    const moved = await store.transition(env.id, 'failed', {
      generation: env.generation, from: [failure.from], ...(fence ? { fence } : {}),
      // With its data kept, a redeploy starts on it (not on a fresh seed copy).
      set: { failure_code: failure.code, failure_message: message, ...(keepData ? {} : { seeded_at: null }) },
      event: { type: 'failed', message: `failed: ${message}`, data: { code: failure.code, keptData: keepData, ...failure.data } },
    });
    return moved ? { env: moved, keepData } : undefined;
  }
}

/** Refuses an environment that a door acting on its own did not create from `origin`. */
export function assertOrigin(env: Environment, origin: string): void {
  if (env.origin === origin) return;
  throw new ConflictError('NOT_THIS_ORIGIN',
    `environment "${env.name}" was not created for ${origin} (it was created by ${env.owner} through ${env.door}${env.origin ? ` for ${env.origin}` : ''}); it is left alone`,
    { id: env.id, origin: env.origin });
}
