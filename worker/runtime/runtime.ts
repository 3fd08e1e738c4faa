import type { Readable } from 'node:stream';
import type { StackSpec } from '../../core/stack/model.js';
import type { ServiceStatus } from '../../core/platform/internal-api.js';
import { MayflyError } from '../../core/domain/errors.js';
import { LABEL_COMPOSE_VOLUME, LABEL_ROLE, ROLE_CHECKPOINT } from '../../core/domain/names.js';

/**
 * What the worker needs from a container engine. worker/runtime/docker implements it on the
 * Docker Engine API (worker/runtime/create.ts picks the implementation); unit tests fake it
 * (test/helpers/fake-runtime.ts), integration tests never do. Object names and labels come from
 * core/domain/names.ts.
 */
export interface EnvironmentRef {
  id: string;
  project: string;
  generation: number;
  /**
   * Multi-node runtimes: the node admission placed the environment on (its database's clone is
   * made there when that node takes tasks; otherwise on the least loaded one).
   */
  node?: string;
}

export interface PulledImage {
  image: string;
  /** repository@sha256:..., or the local image id when the registry gave no digest. */
  digest: string;
}

export interface ServiceState {
  service: string;
  containerId: string;
  running: boolean;
  health: 'healthy' | 'unhealthy' | 'starting' | 'none';
  /** Published container port -> host port on `host`. */
  ports: Record<string, number>;
  /**
   * Where the published ports answer: a swarm node's address. Absent: 127.0.0.1 (one engine on
   * the worker's host).
   */
  host?: string;
  /** The node that runs it, on a multi-node runtime (swarm); for messages and placement reports. */
  node?: string;
}

export interface RemovalReport {
  containers: number;
  networks: number;
  volumes: number;
  /** Data volumes left in place (`keepData`). */
  kept: number;
}

/**
 * A tester's data: the stack's named volumes (compose's volume label; the database's seed clone
 * is one). Anonymous volumes go with their containers.
 */
export function isDataVolume(labels: Record<string, string> | null | undefined): boolean {
  // A checkpoint of the database is the tester's data too (kept while a failed environment's data is).
  return !!labels?.[LABEL_COMPOSE_VOLUME] || labels?.[LABEL_ROLE] === ROLE_CHECKPOINT;
}

export interface OwnedObjects {
  /** `service` (compose label) and `state` (created, running, restarting, exited, dead...) say whether it still runs. */
  containers: { id: string; envId: string; service?: string; state?: string; exitCode?: number }[];
  networks: { id: string; envId: string }[];
  volumes: { name: string; envId: string }[];
}

/** Thrown by up()/start() when their `signal` aborts (the environment is going away, or the run lost it). */
export class Aborted extends MayflyError {
  constructor() {
    super('ABORTED', 409, 'aborted: the environment is going away');
  }
}

/**
 * A data volume that lives on a node which takes no tasks now (drained, down, or gone from the
 * cluster): its service is pinned there and cannot run anywhere else with that data.
 */
export interface StrandedVolume {
  service: string;
  volume: string;
  /** The node's hostname (its id when the cluster no longer knows it). */
  node: string;
  /** The node's state as the cluster sees it ("ready, drain", "down, active", "no longer in the swarm"). */
  why: string;
}

export type ProgressFn = (message: string, data?: Record<string, unknown>) => void;

/**
 * Called before each step that changes the engine (create, remove, start, update) with what it is
 * about to do; throws when the job run no longer owns the environment (worker/jobs/fence.ts).
 */
export type Guard = (step: string) => Promise<unknown>;

/**
 * Where up() spent its time, filled in by the runtime when given (benchmarks and the ready
 * event read it): `networkMs` the network and volumes; `createMs` and `startMs` the Engine API
 * calls that create and start containers (summed over services); `healthyMs` the rest of up(),
 * waiting for dependencies and health. Services start in parallel where depends_on allows, so
 * the sums can exceed the wall time; healthyMs is the wall time left over, never below 0.
 */
export interface UpTimings { networkMs: number; createMs: number; startMs: number; healthyMs: number }

export interface UpOptions { healthTimeoutMs: number; onProgress?: ProgressFn; signal?: AbortSignal; guard?: Guard; timings?: UpTimings }

export interface Runtime {
  /** Pulls an image by reference, following the whole progress stream; rejects on any error in it. */
  pull(image: string, onProgress?: ProgressFn): Promise<PulledImage>;
  /**
   * Creates (or converges) the environment's network, volumes and containers in dependency
   * order, waiting for each dependency condition, then for every service to be healthy.
   * Containers whose configuration did not change are kept.
   */
  up(env: EnvironmentRef, stack: StackSpec, opts: UpOptions): Promise<ServiceState[]>;
  /** Creates the environment's network ahead of up() (which converges it too), so it can overlap the seed clone. */
  prepareNetwork(env: EnvironmentRef): Promise<void>;
  /** Runs a command in a service's container with `input` on its stdin. */
  exec(env: EnvironmentRef, service: string, cmd: string[], input?: Readable): Promise<{ exitCode: number; output: string }>;
  /** The last lines of a service's output. */
  logs(env: EnvironmentRef, service: string, tail: number): Promise<string>;
  /**
   * Stops every container of the environment (sleep), keeping the containers, their network and
   * volumes, so that start() brings the same stack back with its data. Returns how many stopped.
   */
  stop(envId: string): Promise<number>;
  /**
   * Starts the environment's stopped containers again in dependency order (wake), creating any
   * that is missing, and waits until every service is healthy, like up(). Host ports change.
   */
  start(env: EnvironmentRef, stack: StackSpec, opts: UpOptions): Promise<ServiceState[]>;
  /** The state of each of the environment's containers (by label), for the web pages. */
  services(envId: string): Promise<ServiceStatus[]>;
  /**
   * A service's output as a text stream: the last `tail` lines, then (with `follow`) new lines
   * until the container goes away or the stream is destroyed. Undefined when there is no such container.
   */
  logStream(env: EnvironmentRef, service: string, opts: { tail: number; follow: boolean }): Promise<Readable | undefined>;
  /**
   * Removes every container, network and volume labeled with the environment's id; with
   * `keepData`, its data volumes (isDataVolume) stay (a failed environment until its lease ends).
   */
  remove(envId: string, opts?: { keepData?: boolean }): Promise<RemovalReport>;
  /** Every object that carries a mayfly.env label. */
  listOwned(): Promise<OwnedObjects>;
  /**
   * Removes this instance's helper and golden-build containers that stopped (or never started)
   * more than `graceMs` ago, and clone-probe volumes older than 4 × `graceMs`: a worker killed
   * mid-clone or mid-probe leaves them behind. Returns how many.
   */
  removeDeadHelpers(graceMs: number): Promise<number>;
  /**
   * Multi-node runtimes only (swarm): the environment's data volumes stranded on a node that takes
   * no tasks. The reconciler heals such an environment with a fresh clone of its seed elsewhere.
   * One engine has no other node: absent there.
   */
  strandedData?(envId: string): Promise<StrandedVolume[]>;
  /**
   * Multi-node runtimes only (swarm): removes what ready environments left on nodes that no
   * longer serve them (a node drained or lost while its environment healed elsewhere, back now):
   * containers of services that are gone, and copies of data volumes whose service is pinned to
   * another node. Returns how many objects.
   */
  reapStale?(readyEnvIds: readonly string[]): Promise<number>;
  /**
   * Multi-node runtimes only (swarm): where each running service of the environment answers now.
   * The swarm moves a task to another node on its own (a drained node), and with host-mode ports
   * its address moves with it; the reconciler updates the recorded endpoints from this.
   */
  whereServicesRun?(envId: string): Promise<ServiceState[]>;
  /**
   * Unpauses the environment's paused containers and names their services. A copy of a running
   * database (checkpoint, capsule, fork) pauses it under the environment's save lock; a worker
   * killed mid-copy leaves it paused, and nothing else would ever unpause it. The reconciler calls
   * this only while no one holds that lock. Absent: the runtime never pauses (or cannot tell).
   */
  resumePaused?(envId: string): Promise<string[]>;
}
