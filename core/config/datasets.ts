import { ConfigError, parseMemory } from './read.js';

/**
 * Limits on saved datasets, per team (MAYFLY_SAVED_DATASETS_PER_TEAM, MAYFLY_SAVED_BYTES_PER_TEAM).
 * Part of the one frozen Config (config.savedDatasets); parsed by loadConfig. 0 means no limit.
 */
export interface SavedDatasetsConfig {
  /** Saved datasets one team may hold (ready or being saved); 0: no limit. */
  perTeam: number;
  /** Bytes of saved datasets one team may hold; 0: no limit. */
  bytesPerTeam: number;
}

export const DEFAULT_SAVED_DATASETS_PER_TEAM = 20;
export const DEFAULT_SAVED_BYTES_PER_TEAM = '20g';

export function loadSavedDatasetsConfig(env: NodeJS.ProcessEnv, int: (name: string, fallback: number, min?: number, max?: number) => number): SavedDatasetsConfig {
  const raw = (env.MAYFLY_SAVED_BYTES_PER_TEAM ?? '').trim() || DEFAULT_SAVED_BYTES_PER_TEAM;
  const bytes = raw === '0' ? 0 : parseMemory(raw);
  if (bytes === undefined) throw new ConfigError('MAYFLY_SAVED_BYTES_PER_TEAM', `must be a size such as "20g" or "500m" (or 0 for no limit), got "${raw}"`);
  return Object.freeze({ perTeam: int('MAYFLY_SAVED_DATASETS_PER_TEAM', DEFAULT_SAVED_DATASETS_PER_TEAM, 0, 100000), bytesPerTeam: bytes });
}

/**
 * Checkpoints, forks and bug capsules (docs/data-workflows.md): MAYFLY_CHECKPOINTS_PER_ENV,
 * MAYFLY_FORK_DEPTH_MAX, MAYFLY_CAPSULES_PER_TEAM.
 * Part of the one frozen Config (config.dataWorkflows).
 */
export interface DataWorkflowsConfig {
  /** Checkpoints kept per environment (the oldest go first); at least 1. */
  checkpointsPerEnvironment: number;
  /** How deep forks go: 1 allows forks of environments that are not forks; 2 a fork of a fork too. */
  forkDepthMax: number;
  /** Bug capsules one team may hold (pending or ready); 0: no limit. */
  capsulesPerTeam: number;
}

export const DEFAULT_CHECKPOINTS_PER_ENV = 5;
export const DEFAULT_FORK_DEPTH_MAX = 2;
export const DEFAULT_CAPSULES_PER_TEAM = 20;

export function loadDataWorkflowsConfig(int: (name: string, fallback: number, min?: number, max?: number) => number): DataWorkflowsConfig {
  return Object.freeze({
    checkpointsPerEnvironment: int('MAYFLY_CHECKPOINTS_PER_ENV', DEFAULT_CHECKPOINTS_PER_ENV, 1, 100),
    forkDepthMax: int('MAYFLY_FORK_DEPTH_MAX', DEFAULT_FORK_DEPTH_MAX, 0, 10),
    capsulesPerTeam: int('MAYFLY_CAPSULES_PER_TEAM', DEFAULT_CAPSULES_PER_TEAM, 0, 100000),
  });
}
