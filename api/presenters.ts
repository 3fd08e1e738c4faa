import type { QueueInfo } from '../core/app/admission.js';
import { DEFAULT_ACCESS, type Access, type Environment, type EnvironmentEvent } from '../core/domain/environment.js';
import { formatDuration } from '../core/domain/duration.js';
import { hasAddress } from '../core/doors/text.js';
import type { Checkpoint } from '../core/store/checkpoints.js';
import type { Capsule } from '../core/store/capsules.js';

/**
 * The JSON form of an environment, the same for every door. `queue`: its place in line when it
 * waits for capacity (queuePosition, estimatedStartSeconds and queueReason are null otherwise).
 */
export function presentEnvironment(env: Environment, baseUrl: string, entryService?: string, queue?: QueueInfo, access?: Access) {
  const self = `${baseUrl}/api/v1/environments/${env.name}`;
  // The router's address works while the environment is ready, and wakes it while it sleeps.
  const urls = hasAddress(env) ? env.urls : {};
  return {
    id: env.id,
    name: env.name,
    template: env.template,
    status: env.status,
    owner: env.owner,
    team: env.team,
    door: env.door,
    images: env.images,
    digests: env.digests,
    seed: env.seed,
    ttl: formatDuration(env.ttlSeconds),
    expiresAt: env.expiresAt.toISOString(),
    expiresInSeconds: env.status === 'destroyed' ? 0 : Math.max(0, Math.round((env.expiresAt.getTime() - Date.now()) / 1000)),
    generation: env.generation,
    url: (entryService && urls[entryService]) || Object.values(urls)[0] || null,
    urls,
    database: env.seed ? { seed: env.seed, snapshot: env.snapshotKey, strategy: env.cloneStrategy, seededAt: env.seededAt?.toISOString() ?? null } : null,
    queuePosition: env.status === 'queued' ? queue?.position ?? null : null,
    estimatedStartSeconds: env.status === 'queued' ? queue?.estimatedStartSeconds ?? null : null,
    queueReason: env.status === 'queued' ? queue?.reason ?? null : null,
    node: env.node,
    failure: env.failure,
    destroyReason: env.destroyReason,
    destroyedBy: env.destroyedBy,
    // Who may open its address through the router: its own setting, else its template's.
    access: access ?? env.access ?? DEFAULT_ACCESS,
    createdAt: env.createdAt.toISOString(),
    readyAt: env.readyAt?.toISOString() ?? null,
    destroyedAt: env.destroyedAt?.toISOString() ?? null,
    // A fork is named <parent>--<for>, and <for> has no "--": the parent's name is what precedes the last one.
    forkOf: env.parentId ? { id: env.parentId, name: env.name.slice(0, env.name.lastIndexOf('--')), depth: env.forkDepth } : null,
    links: { self, events: `${self}/events` },
  };
}

export function presentEvent(e: EnvironmentEvent) {
  return { id: e.id, at: e.at.toISOString(), type: e.type, status: e.status, message: e.message, data: e.data };
}

export function presentCheckpoint(c: Checkpoint) {
  return {
    id: c.id, environment: c.environment, reason: c.reason, status: c.status, generation: c.generation, sizeBytes: c.sizeBytes, pauseMs: c.pauseMs,
    error: c.error, createdBy: c.createdBy, createdAt: c.createdAt.toISOString(), readyAt: c.readyAt?.toISOString() ?? null,
  };
}

/**
 * A capsule's archive for a person who follows a link from a chat or a pull request: the web
 * pages' download, which signs them in first (the API's /api/v1/capsules/<id>/archive needs a
 * bearer token, which a browser does not send).
 */
export function capsuleDownload(publicUrl: string, id: string): string {
  return `${publicUrl}/capsules/${id}/archive`;
}

/** A bug capsule in a list: what it is, without its recorded logs, timeline, stack and trail. */
export function presentCapsuleSummary(c: Capsule, publicUrl: string) {
  return {
    id: c.id, name: c.name, note: c.note, team: c.team, environment: c.environment, template: c.template, seed: c.seed, images: c.images, digests: c.digests,
    status: c.status, sizeBytes: c.sizeBytes, pauseMs: c.pauseMs, dumpBytes: c.dumpBytes, dumpError: c.dumpError, error: c.error, createdBy: c.createdBy,
    createdAt: c.createdAt.toISOString(), readyAt: c.readyAt?.toISOString() ?? null,
    links: { self: `${publicUrl}/api/v1/capsules/${c.id}`, archive: `${publicUrl}/api/v1/capsules/${c.id}/archive` },
  };
}

/** A bug capsule with everything recorded. */
export function presentCapsule(c: Capsule, publicUrl: string) {
  return { ...presentCapsuleSummary(c, publicUrl), stack: c.stack, timeline: c.timeline, logs: c.logs, requests: c.requests };
}
