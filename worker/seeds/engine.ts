import type { Readable } from 'node:stream';
import type { Healthcheck } from '../../core/stack/model.js';
import type { CloneStrategy } from '../../core/catalog/datasets.js';
import type { EnvironmentRef } from '../runtime/runtime.js';

/** Where a clone's files were copied: by the worker on the Docker host, or in a helper container. */
export type CloneVia = 'host' | 'helper';

/**
 * What seed snapshots need from the container engine: build a golden data directory in a
 * throwaway database container, clone it into an environment's volume by a strategy, and
 * probe which strategies the host supports. worker/runtime/docker/snapshot-engine.ts
 * implements it with dockerode.
 */
export interface DatabaseSpec {
  image: string;
  environment: Record<string, string>;
  /** Where the database keeps its data in the container (PGDATA's volume target). */
  dataTarget: string;
  healthcheck?: Healthcheck;
  user: string;
  name: string;
}

export type Exec = (cmd: string[], input?: Readable) => Promise<{ exitCode: number; output: string }>;

export interface ProbeResult {
  reflink: boolean;
  overlay: boolean;
  copy: boolean;
  /** Why a strategy is not available, by strategy. */
  notes: Record<string, string>;
  /**
   * Strategies whose probe failed by an error (Docker, the helper image, a container gone), not
   * because the host lacks them: the answer is unknown, and the caller probes again later.
   */
  unsure: string[];
}

/** One of an environment's named volumes (the stack's name for it, e.g. "pgdata"). */
export interface DataVolume {
  env: EnvironmentRef;
  volume: string;
}

/**
 * Where copyLive puts its copy: the environment's checkpoint `id`, another environment's data
 * volume, or a bug capsule's own volume (named by the caller, labeled with no environment).
 */
export type LiveCopyTarget = { kind: 'checkpoint'; env: EnvironmentRef; id: string } | { kind: 'data'; into: DataVolume; snapshot: string }
  | { kind: 'capsule'; volume: string; id: string };

/**
 * The engine names and labels every volume it makes (core/domain/names.ts): callers speak of an
 * environment's volume or a golden's key, and record the golden volume names it gives.
 */
export interface SnapshotEngine {
  /** The name of the golden volume for a snapshot key (recorded with the snapshot). */
  goldenVolume(key: string): string;
  probe(): Promise<ProbeResult>;
  /** Builds a golden volume: start the database on it, `load` the data, clean shutdown. */
  buildGolden(key: string, volume: string, db: DatabaseSpec, load: (exec: Exec) => Promise<void>): Promise<{ sizeBytes: number | null }>;
  /**
   * Multi-node engines only: how to build a golden volume, without building it now, so that a
   * node that lacks it can have it built there on demand (also after the worker restarted).
   */
  learnGolden?(key: string, volume: string, db: DatabaseSpec, load: (exec: Exec) => Promise<void>): void;
  /**
   * Makes an environment's data volume (labeled for the environment and the snapshot it came
   * from) a clone of the golden volume; says where the files were copied: by this process on the
   * host, or in a helper container.
   */
  clone(strategy: Exclude<CloneStrategy, 'restore'>, golden: string, into: DataVolume, snapshot: string): Promise<CloneVia>;
  /** Copies an environment's (stopped) data volume into a new golden volume, labeled as the saved dataset's. */
  saveVolume(from: DataVolume, golden: string, saved: { snapshot: string; dataset: string }, strategy: 'reflink' | 'overlay' | 'copy'): Promise<{ sizeBytes: number | null }>;
  /**
   * Copies a service's data volume while the service's container is paused (a moment: an atomic,
   * crash-consistent copy, as a file-system snapshot is; PostgreSQL starts on it as after a
   * crash), into `into`: a checkpoint volume of the environment (docs/data-workflows.md), or
   * another environment's data volume (a fork's). A stopped container is copied as it is.
   * `pauseMs` is how long the container was paused. On swarm: not supported (NOT_SUPPORTED_ON_SWARM).
   */
  copyLive(from: DataVolume, service: string, into: LiveCopyTarget, strategy: 'reflink' | 'copy'): Promise<{ pauseMs: number; sizeBytes: number | null; via: CloneVia }>;
  volumeExists(name: string): Promise<boolean>;
  /** Removes a (golden) volume by name and, for overlay clones, its upper layer; "not found" is done. */
  removeVolume(name: string): Promise<void>;
  /** Removes an environment's data volume (and an overlay clone's upper layer); "not found" is done. */
  removeDataVolume(of: DataVolume): Promise<void>;
  /** Removes one service's container (before its data volume is replaced). */
  removeService(env: EnvironmentRef, service: string): Promise<void>;
  /** Stops one service's container cleanly (SIGINT for PostgreSQL: a fast, clean shutdown). */
  stopService(env: EnvironmentRef, service: string): Promise<void>;
  startService(env: EnvironmentRef, service: string, healthTimeoutMs: number): Promise<void>;
}
