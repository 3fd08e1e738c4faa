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
