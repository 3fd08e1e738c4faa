/** The environment lifecycle, shared by the API, the worker and the reconciler. */
export const STATUSES = ['queued', 'provisioning', 'ready', 'sleeping', 'failed', 'destroying', 'destroyed'] as const;
export type Status = (typeof STATUSES)[number];

/** Statuses of an environment that still holds (or may hold) Docker objects and its name. */
export const LIVE_STATUSES: readonly Status[] = ['queued', 'provisioning', 'ready', 'sleeping', 'failed', 'destroying'];
/** Statuses at which a `?wait=` request stops waiting. */
export const SETTLED: readonly Status[] = ['ready', 'sleeping', 'failed', 'destroyed'];
/** Statuses whose lease runs: they can be extended, and they expire (sleeping does not stop the TTL). */
export const LEASED_STATUSES: readonly Status[] = ['queued', 'provisioning', 'ready', 'sleeping', 'failed'];

/**
 * Allowed transitions. `provisioning -> queued` and `ready -> queued` are redeploys (a new
 * generation); `failed -> queued` is a retry by PUT; `destroying -> failed` is a teardown that
 * gave up (the reconciler keeps retrying its removal). `ready -> sleeping` stops the containers of an
 * idle environment (volumes and network kept); `sleeping -> ready` is a wake (a request came through
 * the router and the containers are healthy again); `sleeping -> failed` is a wake that gave up; `ready -> failed` is the reconciler
 * giving up on healing an environment whose containers keep vanishing.
 */
export const TRANSITIONS: Readonly<Record<Status, readonly Status[]>> = {
  queued: ['provisioning', 'destroying', 'queued'],
  provisioning: ['ready', 'failed', 'destroying', 'queued'],
  ready: ['destroying', 'queued', 'sleeping', 'failed'],
  sleeping: ['ready', 'destroying', 'queued', 'failed'],
  failed: ['destroying', 'queued'],
  destroying: ['destroyed', 'failed'],
  destroyed: [],
};

export function canTransition(from: Status, to: Status): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The statuses from which `to` may be reached: the guard of the UPDATE that moves there. */
export function sourcesOf(to: Status): Status[] {
  return STATUSES.filter((s) => TRANSITIONS[s].includes(to));
}

/** The door an environment was asked for through. */
export const DOORS = ['api', 'slack', 'github', 'gitlab', 'cli', 'web'] as const;
export type Door = (typeof DOORS)[number];

/**
 * Who may open an environment's address through the router: anyone (`public`), any signed-in
 * person or API token (`signed-in`, the default), or only its team and admins (`team`). A share
 * link opens one environment whatever its access. Set per template (`access:` in template.yml)
 * and overridable per environment (`access` in the PUT body).
 */
export const ACCESS_LEVELS = ['public', 'signed-in', 'team'] as const;
export type Access = (typeof ACCESS_LEVELS)[number];
export const DEFAULT_ACCESS: Access = 'signed-in';

export interface Failure {
  code: string;
  message: string;
}

export interface Environment {
  id: string;
  name: string;
  template: string;
  status: Status;
  owner: string;
  /** The team of the principal that created it (MAYFLY_TEAMS; `default` for none). */
  team: string;
  /** The door it was created through (api, slack, github, cli, web). */
  door: Door;
  /** Who may open its address (an override of its template's `access`), or null for the template's. */
  access: Access | null;
  /** Where it came from when a door acts on it on its own (`github:<owner>/<repo>#<pr>`), else null. */
  origin: string | null;
  /** Service name -> image reference requested. */
  images: Record<string, string>;
  /** Service name -> image digest that was pulled. */
  digests: Record<string, string>;
  seed: string | null;
  ttlSeconds: number;
  expiresAt: Date;
  generation: number;
  /** Compose project name: containers, networks and volumes are named after it. */
  project: string;
  /** Service name -> public URL: the router's address for the entry service (see core/doors/addresses.ts). */
  urls: Record<string, string>;
  /** Service name -> internal target `127.0.0.1:<host port>` the router proxies to (never shown to users). */
  endpoints: Record<string, string>;
  /** Last HTTP traffic through the router (flushed every few seconds); decides when an idle environment sleeps. */
  lastActivityAt: Date | null;
  failure: Failure | null;
  destroyReason: DestroyReason | null;
  destroyedBy: string | null;
  seededAt: Date | null;
  /**
   * The node its database is placed on (multi-node runtimes, docs/swarm.md): chosen by admission
   * with per-node budgets, then recorded where it really landed once ready. Null on one host.
   */
  node: string | null;
  createdAt: Date;
  updatedAt: Date;
  readyAt: Date | null;
  destroyedAt: Date | null;
  /** The golden snapshot its database was cloned from, and how. */
  snapshotKey: string | null;
  cloneStrategy: string | null;
  /** A fork's parent (its id), and how deep it is (0: not a fork; a fork of a fork is 2). */
  parentId: string | null;
  forkDepth: number;
  /** A rewind's checkpoint (its id): the next provisioning clones the database from it. */
  restoreFrom: string | null;
}

export interface EnvironmentEvent {
  id: number;
  environmentId: string;
  at: Date;
  type: string;
  status: Status | null;
  message: string;
  data: Record<string, unknown> | null;
}

/** Whether two service -> image maps name the same images, whatever their key order. */
export function sameImages(a: Record<string, string>, b: Record<string, string>): boolean {
  const sorted = (o: Record<string, string>) => JSON.stringify(Object.entries(o).sort(([x], [y]) => x.localeCompare(y)));
  return sorted(a) === sorted(b);
}

/** The statuses a redeploy (new images, a retry, a new commit) moves from, to `queued`. */
export const REDEPLOY_FROM: readonly Status[] = ['queued', 'provisioning', 'ready', 'sleeping', 'failed'];
/** The statuses from which the database may be reset to its seed (a new generation, `queued`). */
export const RESET_FROM: readonly Status[] = ['ready', 'sleeping', 'failed'];

/** An environment's (and a dataset's) name: a DNS label, so it can be a host name under the router's domain. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Why an environment went away: the one list every door, the store and the API description use. */
export const DESTROY_REASONS = ['destroyed', 'expired', 'pull-request-closed', 'parent-destroyed', 'merge-request-merged', 'merge-request-closed'] as const;

/** A fork's name: `<parent>--<for>` (within a DNS label's 63 characters). */
/**
 * The images to run to get exactly what ran: per service its digest (`repo@sha256:...`, as the
 * pull recorded it) where there is one, else the reference asked for. Forks and bug capsules.
 */
export function pinnedImages(images: Record<string, string>, digests: Record<string, string>, isDigest: (d: string) => boolean): Record<string, string> {
  return Object.fromEntries(Object.entries(images).map(([svc, ref]) => {
    const digest = digests[svc];
    return [svc, digest && digest.includes('@') && isDigest(digest.slice(digest.lastIndexOf('@') + 1)) ? digest : ref];
  }));
}

export const forkName = (parent: string, forWhom: string) => `${parent}--${forWhom}`;
export type DestroyReason = (typeof DESTROY_REASONS)[number];
