import os from 'node:os';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDuration } from '../domain/duration.js';
import { ConfigError, parseMemory, type ConfigReader } from './read.js';

export { ConfigError, parseMemory };
export type { ConfigReader } from './read.js';
import { CLONE_STRATEGIES, type CloneStrategy } from '../catalog/datasets.js';
import { loadDoorsConfig, type DoorsConfig } from './doors.js';
import { loadRouterConfig, type RouterConfig } from './router.js';
import { loadWebConfig, type WebConfig } from './web.js';
import { loadOpsConfig, type OpsConfig } from './ops.js';
import { loadAdmissionConfig, type AdmissionConfig } from './admission.js';
import { loadDataWorkflowsConfig, loadSavedDatasetsConfig, type DataWorkflowsConfig, type SavedDatasetsConfig } from './datasets.js';
import { loadSwarmConfig, type SwarmSettings } from './swarm.js';
import type { TeamDirectory } from '../domain/principal.js';
import { checkDefaultsWithinPolicy, loadPolicyConfig } from './policy.js';
import { loadRegistryCredentials, type RegistryCredentials } from './registry.js';
import type { StackPolicy } from '../stack/policy.js';

/**
 * Configuration, parsed once at start into a typed, frozen object. A wrong value stops the process
 * with a message that names the variable. Modules receive this object; none reads process.env.
 */
export interface ApiToken {
  name: string;
  secret: string;
}

/** The runtimes the worker can drive (worker/runtime/create.ts builds each). */
export const RUNTIMES = ['docker', 'swarm'] as const;

export interface Config {
  port: number;
  databaseUrl: string;
  redisUrl: string;
  /** The container runtime the worker drives (MAYFLY_RUNTIME): `docker` (one Docker Engine) or `swarm` (docs/swarm.md). */
  runtime: (typeof RUNTIMES)[number];
  /** Unset: dockerode's default (DOCKER_HOST or /var/run/docker.sock). */
  dockerHost?: string;
  registry: string;
  /** This installation's name, on every Docker object it makes (MAYFLY_INSTANCE). */
  instance: string;
  apiTokens: readonly ApiToken[];
  /** Teams and admins (MAYFLY_TEAMS, MAYFLY_ADMINS). */
  teams: TeamDirectory;
  /** Host used in the URLs of published services; ports are published on 127.0.0.1. */
  publicHost: string;
  /** Base URL of the API itself, for links in answers. */
  publicUrl: string;
  templatesDir: string;
  seedsDir: string;
  /** MAYFLY_STATE_DIR: where the processes keep what must outlive them (the worker's internal secret). */
  stateDir: string;
  queuePrefix: string;
  workerConcurrency: number;
  reconcileIntervalMs: number;
  /**
   * Healing a ready environment whose containers stopped (engine or host restart): at most
   * `healsPerWindow` heals within `healWindowMs` (MAYFLY_HEALS_PER_WINDOW, MAYFLY_HEAL_WINDOW),
   * then it fails (keeping its data). No lifetime cap: old heals age out of the window.
   */
  healWindowMs: number;
  healsPerWindow: number;
  healthTimeoutMs: number;
  /**
   * How long a worker holds a job's queue lock without renewing it (MAYFLY_JOB_LOCK, default 30s):
   * past it, a job whose worker froze or died goes to another worker. A run that outlives its lock
   * stands down by its fence (worker/jobs/fence.ts).
   */
  jobLockMs: number;
  /** How long a stopping process may take to finish its work before it abandons it and exits 1 (MAYFLY_SHUTDOWN_GRACE). */
  shutdownGraceMs: number;
  /** Start containers with the engine's whole CPU and apply their CPU limit once healthy (MAYFLY_START_CPU_BOOST). */
  startCpuBoost: boolean;
  /** Copy seed clones through the host's view of the engine's volumes when it has one (MAYFLY_LOCAL_VOLUMES). */
  localVolumes: boolean;
  pullTimeoutMs: number;
  logLevel: string;
  /** How environment databases get their seed: auto (probe), reflink, overlay, copy or restore. */
  cloneStrategy: 'auto' | CloneStrategy;
  /** Image for short-lived helper containers (copies, probes); needs sh and GNU coreutils. */
  helperImage: string;
  defaultLimits: { memoryBytes: number; nanoCpus: number; pids: number };
  /** Doors and notifications (see core/config/doors.ts). */
  doors: DoorsConfig;
  /** What rendered stacks may ask of the host (core/config/policy.ts, core/stack/policy.ts). */
  policy: StackPolicy;
  /** Registry credentials for the worker's pulls, from secret files (core/config/registry.ts). */
  registryAuth: RegistryCredentials;
  /** The router: environment addresses and sleep (see core/config/router.ts). */
  router: RouterConfig;
  /** Web sign-in and the worker's internal endpoint (see core/config/web.ts). */
  web: WebConfig;
  /** Metrics access and log format (see core/config/ops.ts). */
  ops: OpsConfig;
  /** Admission limits and the host memory budget (see core/config/admission.ts). */
  admission: AdmissionConfig;
  /** Per-team limits on saved datasets (see core/config/datasets.ts). */
  savedDatasets: SavedDatasetsConfig;
  /** Checkpoints per environment and the depth of forks (docs/data-workflows.md). */
  dataWorkflows: DataWorkflowsConfig;
  /** With MAYFLY_RUNTIME=swarm: the swarm's Engine APIs (docs/swarm.md). */
  swarm?: SwarmSettings;
}


/** The folder holding package.json: templates/ and seed-data/ sit beside it. */
export function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'templates'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
}

export function parseApiTokens(text: string): ApiToken[] {
  const tokens: ApiToken[] = [];
  for (const pair of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const at = pair.indexOf(':');
    const name = pair.slice(0, at).trim();
    const secret = pair.slice(at + 1).trim();
    if (at <= 0 || !/^[A-Za-z0-9._@-]{1,64}$/.test(name)) {
      throw new ConfigError('MAYFLY_API_TOKENS', `has an entry without a valid name ("name:secret"): "${name || pair.slice(0, 8)}..."`);
    }
    if (secret.length < 8) throw new ConfigError('MAYFLY_API_TOKENS', `has a secret shorter than 8 characters for "${name}"`);
    if (tokens.some((t) => t.name === name)) throw new ConfigError('MAYFLY_API_TOKENS', `names "${name}" twice`);
    tokens.push({ name, secret });
  }
  return tokens;
}

const TEAM_NAME = /^[a-z0-9][a-z0-9_-]{0,39}$/;
// Names as doors record owners: token names, e-mails, slack:<user>, github:<login>.
const MEMBER_NAME = /^[A-Za-z0-9._@+:-]{1,128}$/;

/** MAYFLY_TEAMS: "qa=alice,bob@example.com,ci;platform=carol". Each name in at most one team. */
export function parseTeams(teamsText: string, adminsText: string): TeamDirectory {
  const members = new Map<string, string>();
  for (const entry of teamsText.split(';').map((e) => e.trim()).filter(Boolean)) {
    const eq = entry.indexOf('=');
    const team = entry.slice(0, eq).trim();
    if (eq <= 0 || !TEAM_NAME.test(team)) throw new ConfigError('MAYFLY_TEAMS', `has an entry without a valid team name ("team=name,name;..."): "${entry.slice(0, 40)}"`);
    for (const name of entry.slice(eq + 1).split(',').map((n) => n.trim()).filter(Boolean)) {
      if (!MEMBER_NAME.test(name)) throw new ConfigError('MAYFLY_TEAMS', `has an invalid member name in team "${team}": "${name.slice(0, 40)}"`);
      const already = members.get(name);
      if (already && already !== team) throw new ConfigError('MAYFLY_TEAMS', `puts "${name}" in two teams ("${already}" and "${team}")`);
      members.set(name, team);
    }
  }
  const admins = new Set<string>();
  for (const name of adminsText.split(',').map((n) => n.trim()).filter(Boolean)) {
    if (!MEMBER_NAME.test(name)) throw new ConfigError('MAYFLY_ADMINS', `has an invalid name: "${name.slice(0, 40)}"`);
    admins.add(name);
  }
  return { members, admins };
}

/**
 * How many environments a worker provisions at once when MAYFLY_WORKER_CONCURRENCY is unset (or
 * `auto`): chosen from the machine the worker runs on, not a constant. Provisioning is mostly
 * waiting (the engine's API, a clone, healthchecks), but the containers it starts boot on the
 * same cores: two per core keeps the cores busy without the thrashing measured past that (on 2
 * cores, 5 or more stacks booting at once each took several times longer). Memory caps it: a
 * stack booting needs room beside the ones running, one per GiB of the machine's memory. Between
 * 1 and 64. A worker driving a remote engine (DOCKER_HOST, swarm) should set it explicitly.
 */
export function defaultWorkerConcurrency(cpus = os.availableParallelism(), memoryBytes = os.totalmem()): number {
  const byCpu = 2 * Math.max(1, cpus);
  const byMemory = Math.max(1, Math.floor(memoryBytes / 2 ** 30));
  return Math.max(1, Math.min(64, byCpu, byMemory));
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const int = (name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(name, `must be an integer from ${min} to ${max}, got "${raw}"`);
    return n;
  };
  const duration = (name: string, fallback: string): number => {
    const raw = env[name] || fallback;
    const s = parseDuration(raw);
    if (s === undefined) throw new ConfigError(name, `must be a duration such as "30s" or "5m", got "${raw}"`);
    return s * 1000;
  };
  const onOff = (name: string, fallback: boolean): boolean => {
    const raw = (env[name] ?? '').trim().toLowerCase();
    if (raw === '') return fallback;
    if (['true', '1', 'on', 'yes'].includes(raw)) return true;
    if (['false', '0', 'off', 'no'].includes(raw)) return false;
    throw new ConfigError(name, `must be true or false, got "${env[name]}"`);
  };
  const url = (name: string, fallback: string, protocols: string[]): string => {
    const raw = env[name] || fallback;
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      throw new ConfigError(name, `is not a URL: "${raw.replace(/\/\/[^@/]*@/, '//***@')}"`);
    }
    if (!protocols.includes(parsed.protocol)) throw new ConfigError(name, `must use ${protocols.join(' or ')}, got ${parsed.protocol}`);
    return raw;
  };
  const memory = (name: string, fallback: string): number => {
    const raw = env[name] || fallback;
    const bytes = parseMemory(raw);
    if (bytes === undefined) throw new ConfigError(name, `must be a size such as "512m", got "${raw}"`);
    return bytes;
  };

  const read: ConfigReader = { int, duration, url, onOff };
  const root = projectRoot();
  const port = int('PORT', 8080, 0, 65535);
  const cpus = Number(env.MAYFLY_DEFAULT_CPUS || '1');
  if (!(cpus > 0 && cpus <= 64)) throw new ConfigError('MAYFLY_DEFAULT_CPUS', `must be a number of CPUs such as "0.5", got "${env.MAYFLY_DEFAULT_CPUS}"`);
  const registry = env.MAYFLY_REGISTRY || '127.0.0.1:5000';
  if (!/^[A-Za-z0-9.-]+(:\d+)?$/.test(registry)) throw new ConfigError('MAYFLY_REGISTRY', `must be host[:port], got "${registry}"`);
  const publicHost = env.MAYFLY_PUBLIC_HOST || '127.0.0.1';
  // The same default as scripts/lib.sh.
  const stateDir = path.resolve(env.MAYFLY_STATE_DIR || '/var/lib/mayfly');

  const config: Config = {
    port,
    databaseUrl: url('DATABASE_URL', 'postgres://mayfly:mayfly@127.0.0.1:5432/mayfly', ['postgres:', 'postgresql:']),
    redisUrl: url('REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']),
    runtime: (env.MAYFLY_RUNTIME || 'docker') as Config['runtime'],
    ...(env.DOCKER_HOST ? { dockerHost: env.DOCKER_HOST } : {}),
    registry,
    instance: env.MAYFLY_INSTANCE || 'default',
    apiTokens: Object.freeze(parseApiTokens(env.MAYFLY_API_TOKENS ?? '')),
    teams: parseTeams(env.MAYFLY_TEAMS ?? '', env.MAYFLY_ADMINS ?? ''),
    publicHost,
    publicUrl: (env.MAYFLY_PUBLIC_URL || `http://${publicHost}:${port}`).replace(/\/$/, ''),
    templatesDir: path.resolve(env.MAYFLY_TEMPLATES_DIR || path.join(root, 'templates')),
    seedsDir: path.resolve(env.MAYFLY_SEEDS_DIR || path.join(root, 'seed-data')),
    stateDir,
    queuePrefix: env.MAYFLY_QUEUE_PREFIX || 'mayfly',
    workerConcurrency: env.MAYFLY_WORKER_CONCURRENCY === 'auto' ? defaultWorkerConcurrency() : int('MAYFLY_WORKER_CONCURRENCY', defaultWorkerConcurrency(), 1, 64),
    reconcileIntervalMs: duration('MAYFLY_RECONCILE_INTERVAL', '5s'),
    healWindowMs: duration('MAYFLY_HEAL_WINDOW', '10m'),
    healsPerWindow: int('MAYFLY_HEALS_PER_WINDOW', 3, 1, 100),
    healthTimeoutMs: duration('MAYFLY_HEALTH_TIMEOUT', '2m'),
    jobLockMs: duration('MAYFLY_JOB_LOCK', '30s'),
    shutdownGraceMs: duration('MAYFLY_SHUTDOWN_GRACE', '2m'),
    startCpuBoost: onOff('MAYFLY_START_CPU_BOOST', true),
    localVolumes: onOff('MAYFLY_LOCAL_VOLUMES', true),
    pullTimeoutMs: duration('MAYFLY_PULL_TIMEOUT', '10m'),
    logLevel: env.LOG_LEVEL || 'info',
    cloneStrategy: (env.MAYFLY_CLONE_STRATEGY || 'auto') as Config['cloneStrategy'],
    helperImage: env.MAYFLY_HELPER_IMAGE || `${registry}/mayfly/debian:bookworm`,
    defaultLimits: Object.freeze({
      memoryBytes: memory('MAYFLY_DEFAULT_MEMORY', '512m'),
      nanoCpus: Math.round(cpus * 1e9),
      pids: int('MAYFLY_DEFAULT_PIDS', 256, 16, 100000),
    }),
    doors: loadDoorsConfig(env, read),
    policy: loadPolicyConfig(env, registry, env.DOCKER_HOST),
    registryAuth: loadRegistryCredentials(env, registry),
    router: loadRouterConfig(env, read),
    web: loadWebConfig(env, read, stateDir),
    ops: loadOpsConfig(env, read),
    admission: loadAdmissionConfig(env, read),
    savedDatasets: loadSavedDatasetsConfig(env, int),
    dataWorkflows: loadDataWorkflowsConfig(int),
  };
  checkDefaultsWithinPolicy(config.defaultLimits, config.policy);
  if (!RUNTIMES.includes(config.runtime)) throw new ConfigError('MAYFLY_RUNTIME', `must be ${RUNTIMES.join(', ')}; got "${config.runtime}"`);
  if (config.runtime === 'swarm') config.swarm = loadSwarmConfig(env, read);
  if (config.cloneStrategy !== 'auto' && !CLONE_STRATEGIES.includes(config.cloneStrategy)) {
    throw new ConfigError('MAYFLY_CLONE_STRATEGY', `must be auto, ${CLONE_STRATEGIES.join(', ')}; got "${config.cloneStrategy}"`);
  }
  if (!/^[a-z0-9][a-z0-9_.-]{0,62}$/.test(config.instance)) throw new ConfigError('MAYFLY_INSTANCE', 'must be 1-63 lowercase letters, digits, ".", "_" or "-"');
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(config.queuePrefix)) throw new ConfigError('MAYFLY_QUEUE_PREFIX', 'must be 1-32 letters, digits, "_" or "-"');
  return Object.freeze(config);
}
