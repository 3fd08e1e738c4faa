import { ConfigError, parseMemory, type ConfigReader } from './read.js';
import { parseNodeList } from './swarm.js';

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
  /**
   * The swarm's nodes (hostnames from MAYFLY_SWARM_NODES) when MAYFLY_RUNTIME=swarm; empty on
   * one Docker host. Admission places each environment (its database) on the least loaded one,
   * with or without per-node budgets.
   */
  nodes: readonly string[];
  /** Environments whose database one node may hold at once (MAYFLY_NODE_MAX_ENVIRONMENTS; 0: unlimited). */
  perNodeMaxEnvironments: number;
  /** Declared memory of the environments placed on one node, in bytes (MAYFLY_NODE_MEMORY_BUDGET; 0: unlimited). */
  perNodeMemoryBudgetBytes: number;
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
  const perNodeRaw = env.MAYFLY_NODE_MEMORY_BUDGET ?? '';
  let perNodeMemoryBudgetBytes = 0;
  if (perNodeRaw !== '' && perNodeRaw !== '0') {
    const bytes = parseMemory(perNodeRaw);
    if (bytes === undefined) throw new ConfigError('MAYFLY_NODE_MEMORY_BUDGET', `must be a size such as "6g" (or 0 for no per-node budget), got "${perNodeRaw}"`);
    perNodeMemoryBudgetBytes = bytes;
  }
  const perNodeMaxEnvironments = h.int('MAYFLY_NODE_MAX_ENVIRONMENTS', 0, 0, 100000);
  const which = perNodeMaxEnvironments ? 'MAYFLY_NODE_MAX_ENVIRONMENTS' : perNodeMemoryBudgetBytes ? 'MAYFLY_NODE_MEMORY_BUDGET' : undefined;
  if (which && env.MAYFLY_RUNTIME !== 'swarm') {
    throw new ConfigError(which, 'is a per-node budget and applies only with MAYFLY_RUNTIME=swarm; on one host use MAYFLY_MAX_ENVIRONMENTS and MAYFLY_MEMORY_BUDGET');
  }
  // On a swarm admission places every environment on a node (budgets or not), so that concurrent
  // requests spread: the nodes are known from the start.
  let nodes: string[] = [];
  if (env.MAYFLY_RUNTIME === 'swarm') {
    try {
      nodes = Object.keys(parseNodeList(env.MAYFLY_SWARM_NODES ?? ''));
    } catch (err) {
      // Without budgets, the swarm's own settings (loadSwarmConfig, same loadConfig) say what is wrong with it.
      if (which) throw new ConfigError('MAYFLY_SWARM_NODES', `must list the swarm's nodes for ${which}: ${(err as Error).message}`);
    }
  }
  return Object.freeze({
    maxEnvironments: h.int('MAYFLY_MAX_ENVIRONMENTS', 0, 0, 100000),
    maxPerOwner: h.int('MAYFLY_MAX_ENVIRONMENTS_PER_OWNER', 0, 0, 100000),
    memoryBudgetBytes,
    nodes: Object.freeze(nodes),
    perNodeMaxEnvironments,
    perNodeMemoryBudgetBytes,
    recheckMs: h.duration('MAYFLY_ADMISSION_RECHECK', '60s'),
  });
}
