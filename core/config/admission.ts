import { ConfigError, parseMemory, type ConfigReader } from './read.js';

/**
 * Admission limits (MAYFLY_MAX_ENVIRONMENTS, MAYFLY_MAX_ENVIRONMENTS_PER_OWNER,
 * MAYFLY_MEMORY_BUDGET). Part of the one frozen Config (config.admission); parsed by loadConfig.
 * 0 / unset means "no limit" for each of them.
 */
export interface AdmissionConfig {
  /** Environments holding capacity at once, over all owners (0: unlimited). */
  maxEnvironments: number;
  /** Environments holding capacity at once per owner (0: unlimited). */
  maxPerOwner: number;
  /** Sum of the declared memory limits of every environment holding capacity, in bytes (0: unlimited). */
  memoryBudgetBytes: number;
  /** How long a waiting environment's provisioning job sleeps before it checks again by itself (a safety net). */
  recheckMs: number;
}

type Helpers = ConfigReader;

export function loadAdmissionConfig(env: NodeJS.ProcessEnv, h: Helpers): AdmissionConfig {
  const budgetRaw = env.MAYFLY_MEMORY_BUDGET ?? '';
  let memoryBudgetBytes = 0;
  if (budgetRaw !== '' && budgetRaw !== '0') {
    const bytes = parseMemory(budgetRaw);
    if (bytes === undefined) throw new ConfigError('MAYFLY_MEMORY_BUDGET', `must be a size such as "16g" (or 0 for no budget), got "${budgetRaw}"`);
    memoryBudgetBytes = bytes;
  }
  return Object.freeze({
    maxEnvironments: h.int('MAYFLY_MAX_ENVIRONMENTS', 0, 0, 100000),
    maxPerOwner: h.int('MAYFLY_MAX_ENVIRONMENTS_PER_OWNER', 0, 0, 100000),
    memoryBudgetBytes,
    recheckMs: h.duration('MAYFLY_ADMISSION_RECHECK', '60s'),
  });
}
