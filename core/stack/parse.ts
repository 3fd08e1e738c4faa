import YAML from 'yaml';
import { StackError } from '../domain/errors.js';
import { parseMemory } from '../config/config.js';
import { parseImageRef } from '../domain/image-ref.js';
import type { BindMount, DependencyCondition, Healthcheck, HostAccess, Limits, PortSpec, ServiceSpec, StackSpec, VolumeMount } from './model.js';

/**
 * Parses a rendered compose file into a StackSpec. Mayfly implements a subset of the compose
 * specification on the Engine API; any key outside it is an error naming the key, never
 * something silently dropped. `x-` extension keys are allowed and ignored, as compose does.
 */
const TOP_LEVEL = new Set(['services', 'volumes', 'version', 'name']);
const SERVICE_KEYS = new Set([
  'image', 'command', 'entrypoint', 'environment', 'ports', 'volumes', 'tmpfs', 'depends_on', 'healthcheck',
  'mem_limit', 'cpus', 'pids_limit', 'shm_size', 'working_dir', 'user', 'labels', 'stop_grace_period', 'restart',
  // Host access: parsed so that stack policy (policy.ts) refuses them by name with POLICY_VIOLATION.
  'privileged', 'cap_add', 'network_mode', 'pid', 'ipc', 'devices',
]);
const HEALTH_KEYS = new Set(['test', 'interval', 'timeout', 'retries', 'start_period', 'start_interval', 'disable']);
const CONDITIONS = new Set<DependencyCondition>(['service_started', 'service_healthy', 'service_completed_successfully']);
const SERVICE_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const VOLUME_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_.]*$/;

type Json = unknown;
const isMap = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

function fail(key: string, message: string): never {
  throw new StackError('INVALID_STACK', `${key}: ${message}`, [{ field: key, message }]);
}

function unsupported(key: string): never {
  throw new StackError('UNSUPPORTED_COMPOSE_KEY', `${key}: Mayfly does not support this compose key`, [{ field: key, message: 'not supported by Mayfly' }]);
}

function checkKeys(map: Record<string, Json>, allowed: Set<string>, prefix: string): void {
  for (const key of Object.keys(map)) {
    if (key.startsWith('x-')) continue;
    if (!allowed.has(key)) unsupported(`${prefix}${key}`);
  }
}

/** "1m30s", "500ms", "2s" as compose writes durations. */
export function parseComposeDuration(value: Json, key: string): number {
  if (typeof value === 'number' && value >= 0) return value * 1000;
  if (typeof value !== 'string') fail(key, 'must be a duration such as "2s" or "1m30s"');
  const re = /(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)/g;
  let total = 0;
  let consumed = '';
  for (const m of value.matchAll(re)) {
    const n = Number(m[1]);
    total += n * { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, ns: 0.000001 }[m[2] as 'h']!;
    consumed += m[0];
  }
  if (!consumed || consumed !== value.replace(/\s+/g, '')) fail(key, `"${value}" is not a duration such as "2s" or "1m30s"`);
  return Math.round(total);
}

function stringList(value: Json, key: string): string[] {
  if (typeof value === 'string') return value.trim() === '' ? [] : ['/bin/sh', '-c', value];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string' || typeof v === 'number')) return value.map(String);
  fail(key, 'must be a string or a list of strings');
}

function parseEnvironment(value: Json, key: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (value === undefined || value === null) return out;
  if (Array.isArray(value)) {
    for (const item of value) {
      if (typeof item !== 'string') fail(key, 'list entries must be "NAME=value" strings');
      const at = item.indexOf('=');
      const name = at < 0 ? item : item.slice(0, at);
      if (!ENV_NAME.test(name)) fail(`${key}.${name}`, 'is not a valid variable name');
      if (at < 0) fail(`${key}.${name}`, 'has no value: Mayfly does not pass through variables from its own environment');
      out[name] = item.slice(at + 1);
    }
    return out;
  }
  if (!isMap(value)) fail(key, 'must be a map or a list of "NAME=value"');
  for (const [name, v] of Object.entries(value)) {
    if (!ENV_NAME.test(name)) fail(`${key}.${name}`, 'is not a valid variable name');
    if (v === null || typeof v === 'object') fail(`${key}.${name}`, 'must be a string, number or boolean');
    out[name] = String(v);
  }
  return out;
}

function parsePorts(value: Json, key: string): PortSpec[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) fail(key, 'must be a list');
  return value.map((item, i) => {
    const text = String(item);
    const m = /^(\d{1,5})(?:\/(tcp|udp))?$/.exec(text);
    if (!m) {
      fail(`${key}[${i}]`, `"${text}": give only the container port ("3000" or "3000/tcp"); Mayfly publishes it on 127.0.0.1 at a port the engine picks`);
    }
    const port = Number(m[1]);
    if (port < 1 || port > 65535) fail(`${key}[${i}]`, `${port} is not a port number`);
    return { container: port, protocol: (m[2] ?? 'tcp') as 'tcp' | 'udp' };
  });
}

/** Named volumes, and host paths (binds) which stack policy then allows or refuses. */
function parseVolumes(value: Json, key: string, declared: Set<string>): { volumes: VolumeMount[]; binds: BindMount[] } {
  const out = { volumes: [] as VolumeMount[], binds: [] as BindMount[] };
  if (value === undefined) return out;
  if (!Array.isArray(value)) fail(key, 'must be a list');
  value.forEach((item, i) => {
    const k = `${key}[${i}]`;
    if (typeof item !== 'string') fail(k, 'must be "volume:/path[:ro]" (the long syntax is not supported)');
    const parts = item.split(':');
    const [source, target, mode] = parts;
    if (parts.length < 2 || parts.length > 3 || !source || !target) fail(k, `"${item}" must be "volume:/path[:ro]"`);
    if (!target.startsWith('/')) fail(k, `target "${target}" must be an absolute path`);
    if (mode !== undefined && mode !== 'ro' && mode !== 'rw') fail(k, `mode "${mode}" must be "ro" or "rw"`);
    if (source.startsWith('/') || source.startsWith('.') || source.startsWith('~')) {
      out.binds.push({ source, target, readOnly: mode === 'ro', key: k });
      return;
    }
    if (!declared.has(source)) fail(k, `volume "${source}" is not declared under top-level "volumes"`);
    out.volumes.push({ source, target, readOnly: mode === 'ro' });
  });
  return out;
}

/** privileged, cap_add, network_mode, pid, ipc, devices: recorded for policy, never passed to Docker. */
function parseHostAccess(raw: Record<string, Json>, key: string): HostAccess | undefined {
  const access: HostAccess = {};
  const list = (v: Json, k: string): string[] => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) fail(k, 'must be a list of strings');
    return v as string[];
  };
  if (raw.privileged !== undefined) {
    if (typeof raw.privileged !== 'boolean') fail(`${key}.privileged`, 'must be true or false');
    access.privileged = raw.privileged;
  }
  if (raw.cap_add !== undefined) access.capAdd = list(raw.cap_add, `${key}.cap_add`);
  if (raw.devices !== undefined) access.devices = list(raw.devices, `${key}.devices`);
  for (const [k, field] of [['network_mode', 'networkMode'], ['pid', 'pid'], ['ipc', 'ipc']] as const) {
    if (raw[k] === undefined) continue;
    if (typeof raw[k] !== 'string') fail(`${key}.${k}`, 'must be a string');
    access[field] = raw[k] as string;
  }
  return Object.keys(access).length ? access : undefined;
}

function parseHealthcheck(value: Json, key: string): Healthcheck | undefined {
  if (value === undefined) return undefined;
  if (!isMap(value)) fail(key, 'must be a map');
  checkKeys(value, HEALTH_KEYS, `${key}.`);
  if (value.disable === true) return { test: ['NONE'] };
  let test: string[];
  const t = value.test;
  if (typeof t === 'string') test = ['CMD-SHELL', t];
  else if (Array.isArray(t) && t.length > 0 && t.every((x) => typeof x === 'string')) test = t as string[];
  else fail(`${key}.test`, 'must be a string or a list starting with "CMD", "CMD-SHELL" or "NONE"');
  if (!['CMD', 'CMD-SHELL', 'NONE'].includes(test[0]!)) fail(`${key}.test`, 'a list must start with "CMD", "CMD-SHELL" or "NONE"');
  const hc: Healthcheck = { test };
  if (value.interval !== undefined) hc.intervalMs = parseComposeDuration(value.interval, `${key}.interval`);
  if (value.timeout !== undefined) hc.timeoutMs = parseComposeDuration(value.timeout, `${key}.timeout`);
  if (value.start_period !== undefined) hc.startPeriodMs = parseComposeDuration(value.start_period, `${key}.start_period`);
  if (value.start_interval !== undefined) hc.startIntervalMs = parseComposeDuration(value.start_interval, `${key}.start_interval`);
  if (value.retries !== undefined) {
    if (!Number.isInteger(value.retries) || (value.retries as number) < 1) fail(`${key}.retries`, 'must be a positive integer');
    hc.retries = value.retries as number;
  }
  return hc;
}

function parseDependsOn(value: Json, key: string): ServiceSpec['dependsOn'] {
  if (value === undefined) return [];
  if (Array.isArray(value)) {
    return value.map((s, i) => {
      if (typeof s !== 'string') fail(`${key}[${i}]`, 'must be a service name');
      return { service: s, condition: 'service_started' as const };
    });
  }
  if (!isMap(value)) fail(key, 'must be a list of services or a map of service: {condition}');
  return Object.entries(value).map(([service, spec]) => {
    if (spec === null) return { service, condition: 'service_started' as const };
    if (!isMap(spec)) fail(`${key}.${service}`, 'must be a map with "condition"');
    checkKeys(spec, new Set(['condition']), `${key}.${service}.`);
    const condition = (spec.condition ?? 'service_started') as DependencyCondition;
    if (!CONDITIONS.has(condition)) fail(`${key}.${service}.condition`, `must be one of ${[...CONDITIONS].join(', ')}`);
    return { service, condition };
  });
}

function parseLimits(svc: Record<string, Json>, key: string, defaults: Limits): Limits {
  const limits = { ...defaults };
  if (svc.mem_limit !== undefined) {
    const bytes = parseMemory(String(svc.mem_limit));
    if (bytes === undefined || bytes < 6 * 1024 * 1024) fail(`${key}.mem_limit`, 'must be a size of at least 6m, such as "256m"');
    limits.memoryBytes = bytes;
  }
  if (svc.cpus !== undefined) {
    const cpus = Number(svc.cpus);
    if (!(cpus > 0 && cpus <= 64)) fail(`${key}.cpus`, 'must be a number of CPUs greater than 0, such as 0.5');
    limits.nanoCpus = Math.round(cpus * 1e9);
  }
  if (svc.pids_limit !== undefined) {
    if (!Number.isInteger(svc.pids_limit) || (svc.pids_limit as number) < 1) fail(`${key}.pids_limit`, 'must be a positive integer');
    limits.pids = svc.pids_limit as number;
  }
  return limits;
}

/** Orders services so that each follows its dependencies; a cycle or an unknown service is an error. */
export function startOrder(services: ServiceSpec[]): ServiceSpec[] {
  const byName = new Map(services.map((s) => [s.name, s]));
  const ordered: ServiceSpec[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (s: ServiceSpec, path: string[]): void => {
    if (state.get(s.name) === 'done') return;
    if (state.get(s.name) === 'visiting') fail(`services.${s.name}.depends_on`, `dependency cycle: ${[...path, s.name].join(' -> ')}`);
    state.set(s.name, 'visiting');
    for (const dep of s.dependsOn) {
      const target = byName.get(dep.service);
      if (!target) fail(`services.${s.name}.depends_on`, `unknown service "${dep.service}"`);
      visit(target, [...path, s.name]);
    }
    state.set(s.name, 'done');
    ordered.push(s);
  };
  for (const s of [...services].sort((a, b) => a.name.localeCompare(b.name))) visit(s, []);
  return ordered;
}

export function parseStack(yamlText: string, defaults: Limits): StackSpec {
  let doc: Json;
  try {
    doc = YAML.parse(yamlText, { uniqueKeys: true, merge: false, maxAliasCount: 0 });
  } catch (err) {
    throw new StackError('INVALID_STACK', `the rendered compose file is not valid YAML: ${(err as Error).message}`);
  }
  if (!isMap(doc)) fail('(root)', 'must be a map with "services"');
  checkKeys(doc, TOP_LEVEL, '');
  const volumesDecl = doc.volumes ?? {};
  if (!isMap(volumesDecl)) fail('volumes', 'must be a map of volume names');
  for (const [name, spec] of Object.entries(volumesDecl)) {
    if (!VOLUME_NAME.test(name)) fail(`volumes.${name}`, 'is not a valid volume name');
    if (spec !== null && !(isMap(spec) && Object.keys(spec).length === 0)) unsupported(`volumes.${name}.${isMap(spec) ? Object.keys(spec)[0] : ''}`);
  }
  const declared = new Set(Object.keys(volumesDecl));
  if (!isMap(doc.services) || Object.keys(doc.services).length === 0) fail('services', 'must be a map with at least one service');

  const services: ServiceSpec[] = Object.entries(doc.services).map(([name, raw]) => {
    const key = `services.${name}`;
    if (!SERVICE_NAME.test(name)) fail(key, 'service names are lowercase letters, digits, "-" and "_"');
    if (!isMap(raw)) fail(key, 'must be a map');
    checkKeys(raw, SERVICE_KEYS, `${key}.`);
    if (typeof raw.image !== 'string' || !parseImageRef(raw.image)) fail(`${key}.image`, `"${String(raw.image)}" is not a valid image reference`);
    const restart = (raw.restart ?? 'no') as ServiceSpec['restart'];
    if (!['no', 'always', 'on-failure', 'unless-stopped'].includes(restart)) fail(`${key}.restart`, 'must be "no", "always", "on-failure" or "unless-stopped"');
    const labels = parseEnvironment(raw.labels, `${key}.labels`);
    for (const l of Object.keys(labels)) if (l.startsWith('mayfly.') || l.startsWith('com.docker.compose.')) fail(`${key}.labels.${l}`, 'is reserved for Mayfly');
    const mounts = parseVolumes(raw.volumes, `${key}.volumes`, declared);
    const svc: ServiceSpec = {
      name,
      image: raw.image,
      environment: parseEnvironment(raw.environment, `${key}.environment`),
      ports: parsePorts(raw.ports, `${key}.ports`),
      volumes: mounts.volumes,
      tmpfs: raw.tmpfs === undefined ? [] : stringList(raw.tmpfs, `${key}.tmpfs`),
      dependsOn: parseDependsOn(raw.depends_on, `${key}.depends_on`),
      limits: parseLimits(raw, key, defaults),
      labels,
      restart,
    };
    if (mounts.binds.length) svc.binds = mounts.binds;
    const hostAccess = parseHostAccess(raw, key);
    if (hostAccess) svc.hostAccess = hostAccess;
    if (raw.command !== undefined) svc.command = stringList(raw.command, `${key}.command`);
    if (raw.entrypoint !== undefined) svc.entrypoint = stringList(raw.entrypoint, `${key}.entrypoint`);
    const hc = parseHealthcheck(raw.healthcheck, `${key}.healthcheck`);
    if (hc) svc.healthcheck = hc;
    if (raw.shm_size !== undefined) {
      const bytes = parseMemory(String(raw.shm_size));
      if (bytes === undefined) fail(`${key}.shm_size`, 'must be a size such as "128m"');
      svc.shmBytes = bytes;
    }
    if (raw.working_dir !== undefined) svc.workingDir = String(raw.working_dir);
    if (raw.user !== undefined) svc.user = String(raw.user);
    if (raw.stop_grace_period !== undefined) svc.stopGraceSeconds = Math.ceil(parseComposeDuration(raw.stop_grace_period, `${key}.stop_grace_period`) / 1000);
    return svc;
  });
  return { services: startOrder(services), volumes: [...declared] };
}
