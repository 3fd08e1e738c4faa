import { realpathSync } from 'node:fs';
import path from 'node:path';
import { PolicyError } from '../domain/errors.js';
import { parseImageRef } from '../domain/image-ref.js';
import type { Limits, StackSpec } from './model.js';

/**
 * What a rendered stack may ask of the host. Checked by the template catalog on every render:
 * when templates load at start (a bad template stops the process, naming template, service and
 * key) and in the worker's provisioning before anything is pulled or created.
 */
export interface StackPolicy {
  /** Registries images may come from (host[:port]; "docker.io" for names without a registry). */
  allowedRegistries: readonly string[];
  /** Absolute host paths (and what lies under them) that may be bind-mounted. */
  allowedBindMounts: readonly string[];
  /** Largest memory, CPU and pids limit a service may set. */
  maxLimits: Limits;
  /** The Docker Engine's socket paths: never mounted, whatever the allow-list says. */
  dockerSockets: readonly string[];
}

export const DOCKER_SOCKETS = ['/var/run/docker.sock', '/run/docker.sock'];
export const DEFAULT_MAX_LIMITS: Limits = { memoryBytes: 4 * 1024 ** 3, nanoCpus: 4e9, pids: 4096 };

/** The policy when none is configured: the one registry, no host paths, the default maxima. */
export function defaultPolicy(registry: string): StackPolicy {
  return { allowedRegistries: [registry], allowedBindMounts: [], maxLimits: DEFAULT_MAX_LIMITS, dockerSockets: DOCKER_SOCKETS };
}

/** Docker's registry of a reference: its first component when that is a host, else Docker Hub. */
export function registryOf(image: string): string | undefined {
  const ref = parseImageRef(image);
  if (!ref) return undefined;
  const first = ref.repository.split('/')[0]!;
  const isHost = ref.repository.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['));
  return isHost ? first.toLowerCase() : 'docker.io';
}

/** Why an image may not be used here, or undefined. Also used to refuse a request's `images` at once. */
export function imagePolicyProblem(policy: StackPolicy, image: string): string | undefined {
  const registry = registryOf(image);
  if (!registry) return `"${image}" is not a valid image reference`;
  const allowed = policy.allowedRegistries.map((r) => r.toLowerCase());
  if (allowed.includes(registry) || (registry === 'docker.io' && allowed.includes('index.docker.io'))) return undefined;
  return `registry "${registry}" is not allowed (MAYFLY_ALLOWED_REGISTRIES: ${policy.allowedRegistries.join(', ')})`;
}

/** The path with symlinks resolved where it exists on this host (so a link to the socket is the socket). */
function resolved(p: string): string[] {
  const normal = path.posix.normalize(p).replace(/(.)\/$/, '$1');
  try {
    const real = realpathSync(normal);
    return real === normal ? [normal] : [normal, real];
  } catch {
    return [normal];
  }
}

const within = (child: string, parent: string) => child === parent || child.startsWith(parent === '/' ? '/' : `${parent}/`);

/** Why a host path may not be mounted, or undefined when the allow-list holds it. */
export function bindPolicyProblem(policy: StackPolicy, source: string): string | undefined {
  if (!source.startsWith('/')) return `"${source}" is a relative host path; only absolute paths on MAYFLY_ALLOWED_BIND_MOUNTS may be mounted`;
  const forms = resolved(source);
  const sockets = policy.dockerSockets.flatMap(resolved);
  // The socket itself, or a folder that holds it (mounting /var/run hands over the socket too).
  if (forms.some((f) => path.posix.basename(f) === 'docker.sock' || sockets.some((s) => within(s, f)))) {
    return `"${source}" gives the container the Docker Engine's socket (control of the host); Mayfly never mounts it`;
  }
  const allowed = policy.allowedBindMounts.flatMap(resolved);
  // Every form must lie inside the allow-list: a symlink inside it that points outside does not count.
  if (allowed.length && forms.every((f) => allowed.some((a) => within(f, a)))) return undefined;
  return `host path "${source}" is not on the allow-list (MAYFLY_ALLOWED_BIND_MOUNTS: ${policy.allowedBindMounts.join(', ') || 'empty'})`;
}

const NAMESPACE = { networkMode: 'network_mode', pid: 'pid', ipc: 'ipc' } as const;

/** Throws PolicyError listing every violation of the stack, each naming its service and key. */
export function enforcePolicy(stack: StackSpec, policy: StackPolicy, template: string): void {
  const found: { field: string; service: string; key: string; message: string }[] = [];
  for (const svc of stack.services) {
    const add = (key: string, message: string) => found.push({ field: `services.${svc.name}.${key}`, service: svc.name, key, message });
    const access = svc.hostAccess ?? {};
    if (access.privileged) add('privileged', 'privileged containers hold every capability of the host; Mayfly refuses them');
    if (access.capAdd?.length) add('cap_add', `adds capabilities (${access.capAdd.join(', ')}); Mayfly refuses added capabilities`);
    if (access.devices?.length) add('devices', `maps host devices (${access.devices.join(', ')}); Mayfly refuses host devices`);
    for (const [field, key] of Object.entries(NAMESPACE) as [keyof typeof NAMESPACE, string][]) {
      const mode = access[field];
      if (mode === undefined) continue;
      add(key, mode === 'host'
        ? `"host" shares the host's ${key === 'network_mode' ? 'network' : key.toUpperCase()} namespace; Mayfly refuses it`
        : `"${mode}": each service gets its own namespace on its environment's network; remove ${key}`);
    }
    for (const b of svc.binds ?? []) {
      const problem = bindPolicyProblem(policy, b.source);
      if (problem) add(b.key.slice(`services.${svc.name}.`.length), problem);
    }
    const imageProblem = imagePolicyProblem(policy, svc.image);
    if (imageProblem) add('image', imageProblem);
    const { limits } = svc;
    const max = policy.maxLimits;
    if (!(limits.memoryBytes > 0)) add('mem_limit', 'is required');
    else if (limits.memoryBytes > max.memoryBytes) add('mem_limit', `${mib(limits.memoryBytes)} is over the maximum of ${mib(max.memoryBytes)} (MAYFLY_MAX_MEMORY)`);
    if (!(limits.nanoCpus > 0)) add('cpus', 'is required');
    else if (limits.nanoCpus > max.nanoCpus) add('cpus', `${limits.nanoCpus / 1e9} is over the maximum of ${max.nanoCpus / 1e9} (MAYFLY_MAX_CPUS)`);
    if (!(limits.pids > 0)) add('pids_limit', 'is required');
    else if (limits.pids > max.pids) add('pids_limit', `${limits.pids} is over the maximum of ${max.pids} (MAYFLY_MAX_PIDS)`);
  }
  if (!found.length) return;
  const first = found[0]!;
  const more = found.length > 1 ? ` (and ${found.length - 1} more violation${found.length > 2 ? 's' : ''})` : '';
  throw new PolicyError(`template "${template}", service "${first.service}", key "${first.key}": ${first.message}${more}`, found);
}

const mib = (bytes: number) => `${Math.round(bytes / 1024 ** 2)}m`;
