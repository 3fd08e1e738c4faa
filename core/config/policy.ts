import { ConfigError, parseMemory } from './read.js';
import { DEFAULT_MAX_LIMITS, DOCKER_SOCKETS, type StackPolicy } from '../stack/policy.js';
import type { Limits } from '../stack/model.js';

/**
 * Stack policy settings (see core/stack/policy.ts): allowed registries and bind mounts, and the
 * largest limits a service may set. Part of the one frozen Config (config.policy).
 */
export function loadPolicyConfig(env: NodeJS.ProcessEnv, registry: string, dockerHost: string | undefined): StackPolicy {
  const list = (name: string): string[] => (env[name] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const registries = list('MAYFLY_ALLOWED_REGISTRIES');
  for (const r of registries) {
    if (!/^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(:\d+)?$/.test(r)) throw new ConfigError('MAYFLY_ALLOWED_REGISTRIES', `has "${r}", which is not host[:port]`);
  }
  const binds = list('MAYFLY_ALLOWED_BIND_MOUNTS');
  for (const b of binds) {
    if (!b.startsWith('/')) throw new ConfigError('MAYFLY_ALLOWED_BIND_MOUNTS', `has "${b}", which is not an absolute path`);
    if (b.endsWith('docker.sock')) throw new ConfigError('MAYFLY_ALLOWED_BIND_MOUNTS', `names the Docker socket ("${b}"); Mayfly never mounts it`);
  }
  const maxMemoryText = env.MAYFLY_MAX_MEMORY || '4g';
  const memoryBytes = parseMemory(maxMemoryText);
  if (memoryBytes === undefined) throw new ConfigError('MAYFLY_MAX_MEMORY', `must be a size such as "4g", got "${maxMemoryText}"`);
  const cpus = Number(env.MAYFLY_MAX_CPUS || DEFAULT_MAX_LIMITS.nanoCpus / 1e9);
  if (!(cpus > 0 && cpus <= 256)) throw new ConfigError('MAYFLY_MAX_CPUS', `must be a number of CPUs such as "4", got "${env.MAYFLY_MAX_CPUS}"`);
  const pids = Number(env.MAYFLY_MAX_PIDS || DEFAULT_MAX_LIMITS.pids);
  if (!Number.isInteger(pids) || pids < 16) throw new ConfigError('MAYFLY_MAX_PIDS', `must be an integer of at least 16, got "${env.MAYFLY_MAX_PIDS}"`);
  const maxLimits = { memoryBytes, nanoCpus: Math.round(cpus * 1e9), pids };
  const sockets = [...DOCKER_SOCKETS];
  if (dockerHost?.startsWith('unix://')) sockets.push(dockerHost.slice('unix://'.length));
  return Object.freeze({
    allowedRegistries: Object.freeze(registries.length ? registries : [registry]),
    allowedBindMounts: Object.freeze(binds),
    maxLimits: Object.freeze(maxLimits),
    dockerSockets: Object.freeze(sockets),
  });
}

/** The defaults are injected into services that declare no limits: they must pass the policy. */
export function checkDefaultsWithinPolicy(defaults: Limits, policy: StackPolicy): void {
  const max = policy.maxLimits;
  if (defaults.memoryBytes > max.memoryBytes) throw new ConfigError('MAYFLY_DEFAULT_MEMORY', `is over MAYFLY_MAX_MEMORY (${max.memoryBytes} bytes)`);
  if (defaults.nanoCpus > max.nanoCpus) throw new ConfigError('MAYFLY_DEFAULT_CPUS', `is over MAYFLY_MAX_CPUS (${max.nanoCpus / 1e9})`);
  if (defaults.pids > max.pids) throw new ConfigError('MAYFLY_DEFAULT_PIDS', `is over MAYFLY_MAX_PIDS (${max.pids})`);
}
