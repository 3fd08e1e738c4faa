/**
 * Bug capsules (docs/data-workflows.md#bug-capsules): what QA saw, kept for a developer. A
 * capsule is a copy of an environment's database taken the way a checkpoint is (the worker pauses
 * it for a moment and copies its volume: worker/jobs/capsules.ts), into a volume of its own that
 * outlives the environment, with its image digests, rendered stack, template, seed, timeline, the
 * last log lines of each service, and the router's request trail. It belongs to the environment's
 * team, within MAYFLY_CAPSULES_PER_TEAM. Restoring one brings up a NEW environment pinned to the
 * capsule's digests whose first provisioning copies the capsule's volume into its database, as a
 * rewind copies a checkpoint's.
 */
import type { AuditSubject, AuditTrail } from './audit.js';
import { authorize, capsuleTarget, environmentTarget, allowed, type Action } from './authorization.js';
import type { Delivery } from './delivery.js';
import { bounded } from './delivery.js';
import type { EnvironmentService } from './environments.js';
import { NAME_PATTERN, pinnedImages, type Door, type Environment, type Access } from '../domain/environment.js';
import { ConflictError, InputError, MayflyError, NotFoundError } from '../domain/errors.js';
import { parseDuration } from '../domain/duration.js';
import { DIGEST_PATTERN } from '../domain/image-ref.js';
import { capsuleVolume } from '../domain/names.js';
import type { Principal } from '../domain/principal.js';
import type { TemplateCatalog } from '../catalog/templates.js';
import type { JobQueues } from '../queue/jobs.js';
import { CAPSULE_ID, type Capsule, type CapsuleRequest, type CapsuleStore } from '../store/capsules.js';

export interface CapsuleServiceDeps {
  capsules: CapsuleStore;
  environments: EnvironmentService;
  queues: JobQueues;
  catalog: TemplateCatalog;
  audit?: AuditTrail;
  /** Capsules one team may hold (pending or ready); 0: no limit (MAYFLY_CAPSULES_PER_TEAM). */
  perTeam: number;
  /** MAYFLY_INSTANCE: capsule volumes are named per installation. */
  instance: string;
}

/** A note is free text, for the bug report; bounded. */
export const CAPSULE_NOTE_MAX = 2000;

/** Past the team's count of capsules: 409, nothing recorded. */
export class CapsulesLimitError extends ConflictError {
  constructor(team: string, count: number, limit: number) {
    super('CAPSULES_LIMIT',
      `team "${team}" holds ${count} bug capsules, its limit (MAYFLY_CAPSULES_PER_TEAM=${limit}); delete one it no longer needs (DELETE /api/v1/capsules/<id>) and try again`,
      { team, count, limit });
  }
}

const HAS_DATA = ['ready', 'sleeping'];

export class CapsuleService {
  constructor(private readonly deps: CapsuleServiceDeps) {}

  /**
   * Records a capsule of `env` (pending; the worker takes it) with the router's request trail as
   * it is now (the trail lives in the web process: it is captured when the request is accepted).
   * 400 naming `name` or `note`; 409 when it is not ready or asleep, has no database, or its team
   * holds its limit. Nothing is recorded when refused.
   */
  take(actor: Principal, env: Environment, body: { name?: unknown; note?: unknown }, trail: CapsuleRequest[]): Promise<{ capsule: Capsule; delivery: Delivery }> {
    return this.audited(actor, 'capsule.take', { id: env.id, name: env.name }, { name: typeof body.name === 'string' ? body.name : null },
      () => this.takeUnaudited(actor, env, body, trail));
  }

  private async takeUnaudited(actor: Principal, env: Environment, body: { name?: unknown; note?: unknown }, trail: CapsuleRequest[]): Promise<{ capsule: Capsule; delivery: Delivery }> {
    authorize(actor, 'capsule.take', environmentTarget(env));
    const problems = [];
    if (body.name !== undefined && (typeof body.name !== 'string' || !NAME_PATTERN.test(body.name))) {
      problems.push({ field: 'name', message: 'must be 1-63 lowercase letters, digits and "-" (e.g. "checkout-500"); leave it out to name the capsule by its id' });
    }
    if (body.note !== undefined && (typeof body.note !== 'string' || body.note.length > CAPSULE_NOTE_MAX)) {
      problems.push({ field: 'note', message: `must be text of at most ${CAPSULE_NOTE_MAX} characters (what went wrong, for the bug report)` });
    }
    if (problems.length) throw new InputError(`invalid request: ${problems.map((p) => p.field).join(', ')}`, problems);
    if (!HAS_DATA.includes(env.status)) throw new ConflictError('NOT_READY', `environment "${env.name}" is ${env.status}; a bug capsule is taken when it is ready (or asleep)`);
    const template = this.deps.catalog.has(env.template) ? this.deps.catalog.get(env.template) : undefined;
    if (!template?.database) throw new ConflictError('NO_DATABASE', `template "${env.template}" of environment "${env.name}" has no database service; a bug capsule needs one to copy`);
    const { capsules, perTeam } = this.deps;
    if (perTeam) {
      const count = await capsules.teamCount(env.team);
      if (count >= perTeam) throw new CapsulesLimitError(env.team, count, perTeam);
    }
    const capsule = await capsules.add({
      name: (body.name as string | undefined) ?? null, note: (body.note as string | undefined) ?? '', team: env.team,
      env: { id: env.id, name: env.name, template: env.template, seed: env.seed, images: env.images, digests: env.digests },
      requests: trail, createdBy: actor.name, volumeOf: (id) => capsuleVolume(this.deps.instance, id),
    });
    let delivery: Delivery = 'queued';
    // Deferred: still recorded (pending); the reconciler queues it once Redis answers.
    await bounded(this.deps.queues.enqueueCapsule(capsule.id)).catch(() => { delivery = 'deferred'; });
    return { capsule, delivery };
  }

  /** The capsules taken of environments of this name (also gone ones) that the caller's team holds, newest first. */
  list(actor: Principal, env: Environment): Promise<Capsule[]> {
    // Audited like every access to a capsule: they hold the environment's data and logs.
    return this.audited(actor, 'capsule.view', { id: env.id, name: env.name }, undefined, async () => {
      authorize(actor, 'capsule.view', environmentTarget(env));
      return (await this.deps.capsules.listForName(env.name)).filter((c) => allowed(actor, 'capsule.view', capsuleTarget(c)));
    });
  }

  /** One capsule: 404 CAPSULE_NOT_FOUND when there is none (or it is being deleted), 403 for another team's. */
  get(actor: Principal, id: string, what = 'show'): Promise<Capsule> {
    return this.audited(actor, 'capsule.view', undefined, { capsule: id, what }, async () => {
      const capsule = await this.find(id);
      authorize(actor, 'capsule.view', capsuleTarget(capsule));
      return capsule;
    }, (c) => ({ id: c.environmentId, name: c.environment }));
  }

  /** The gzipped SQL dump kept for the archive (after get() allowed the caller). */
  dump(capsule: Capsule): Promise<Buffer | null> {
    return this.deps.capsules.dump(capsule.id);
  }

  /** Deletes a capsule: hidden at once; the worker removes its volume, then its record. */
  remove(actor: Principal, id: string): Promise<Capsule> {
    return this.audited(actor, 'capsule.delete', undefined, { capsule: id }, async () => {
      const capsule = await this.find(id);
      authorize(actor, 'capsule.delete', capsuleTarget(capsule));
      if (!(await this.deps.capsules.markDeleting(capsule.id, actor.name))) throw notFound(id);
      // The record says deleting: a job lost now is queued again by the reconciler (or finished by the next delete).
      await bounded(this.deps.queues.enqueueDeleteCapsule(capsule.id)).catch(() => undefined);
      return { ...capsule, status: 'deleting' as const };
    }, (c) => ({ id: c.environmentId, name: c.environment }));
  }

  /**
   * Brings a capsule up as a NEW environment `name`: the capsule's template and seed, its images
   * pinned to the digests it ran, and (first provisioning) its database copied from the capsule.
   * 404 CAPSULE_NOT_FOUND (field `capsule`) for an unknown one, 403 for another team's, 400 naming
   * `capsule` for one not ready, 409 NAME_TAKEN when the name is in use. Nothing is created then.
   */
  async restore(actor: Principal, name: string, capsuleId: unknown, opts: { ttl?: unknown; access?: Access; door: Door; noQueue?: boolean }): Promise<{ env: Environment; delivery: Delivery; capsule: Capsule }> {
    const id = typeof capsuleId === 'string' ? capsuleId : '';
    return this.audited(actor, 'capsule.restore', { name }, { capsule: id || null }, async () => {
      if (!NAME_PATTERN.test(name)) throw new InputError('invalid request: name', [{ field: 'name', message: 'the new environment\'s name: 1-63 lowercase letters, digits and "-"' }]);
      if (typeof capsuleId !== 'string' || !CAPSULE_ID.test(capsuleId)) {
        throw new InputError('invalid request: capsule', [{ field: 'capsule', message: 'must be a bug capsule id such as "cap-1a2b3c4d" (GET /api/v1/environments/<name>/capsules lists them)' }]);
      }
      const capsule = await this.find(capsuleId, 'capsule');
      authorize(actor, 'capsule.restore', capsuleTarget(capsule));
      if (capsule.status !== 'ready') {
        throw new InputError('invalid request: capsule', [{ field: 'capsule', message: `bug capsule "${capsule.id}" is ${capsule.status}${capsule.error ? ` (${capsule.error})` : ''}; only a ready capsule can be restored` }]);
      }
      if (!this.deps.catalog.has(capsule.template)) {
        throw new ConflictError('TEMPLATE_GONE', `bug capsule "${capsule.id}" was taken of template "${capsule.template}", which this server no longer has; it cannot be restored here`);
      }
      const template = this.deps.catalog.get(capsule.template);
      let ttlSeconds = template.ttl.defaultSeconds;
      if (opts.ttl !== undefined) {
        const seconds = parseDuration(opts.ttl);
        if (seconds === undefined || seconds > template.ttl.maxSeconds) {
          throw new InputError('invalid request: ttl', [{ field: 'ttl', message: `must be a duration such as "2h", at most the template's ${template.ttl.maxSeconds} s` }]);
        }
        ttlSeconds = seconds;
      }
      const images = pinnedImages(capsule.images, capsule.digests, (d) => DIGEST_PATTERN.test(d));
      const { env, delivery } = await this.deps.environments.deploy(actor, {
        name, template: capsule.template, owner: actor.name, images, seed: capsule.seed, ttlSeconds, door: opts.door,
        team: capsule.team, restoreFrom: capsule.id, ...(opts.access ? { access: opts.access } : {}),
      }, { ttlGiven: true, createOnly: true, ...(opts.noQueue ? { noQueue: true } : {}) });
      return { env, delivery, capsule };
    }, (r) => ({ id: r.env.id, name: r.env.name }));
  }

  /** The capsule; 404 CAPSULE_NOT_FOUND (naming `field` when a request body named it). */
  private async find(id: string, field?: string): Promise<Capsule> {
    const capsule = CAPSULE_ID.test(id) ? await this.deps.capsules.get(id) : undefined;
    if (!capsule || capsule.status === 'deleting') throw notFound(id, field);
    return capsule;
  }

  private audited<T>(actor: Principal, action: Action, subject: AuditSubject | undefined, details: Record<string, unknown> | undefined, work: () => Promise<T>,
    subjectOf?: (result: T) => AuditSubject): Promise<T> {
    const audit = this.deps.audit;
    return audit ? audit.around(actor, action, subject, details, work, subjectOf) : work();
  }
}

function notFound(id: string, field?: string): MayflyError {
  const message = `no bug capsule "${String(id).slice(0, 40)}" (deleted, or never taken); GET /api/v1/environments/<name>/capsules lists an environment's capsules`;
  return field ? new MayflyError('CAPSULE_NOT_FOUND', 404, message, { details: [{ field, message }] }) : new NotFoundError('CAPSULE_NOT_FOUND', message);
}
