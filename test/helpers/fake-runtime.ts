/**
 * An in-memory container engine behind our own ports (worker/runtime/runtime.ts and
 * worker/seeds/engine.ts), for unit tests of what the worker's jobs decide. Objects are named and
 * labeled as the Docker runtime names them (core/domain/names.ts). A test can make any phase fail
 * or hang (a worker that crashed, or paused, right there), make a container vanish or exit, and
 * plant objects of an environment that PostgreSQL does not know. Never used in integration tests.
 */
import { Readable } from 'node:stream';
import { PermanentFailure } from '../../core/domain/errors.js';
import { checkpointVolume, containerName, goldenVolume, networkName, volumeName } from '../../core/domain/names.js';
import type { ServiceStatus } from '../../core/platform/internal-api.js';
import type { StackSpec } from '../../core/stack/model.js';
import {
  Aborted, type EnvironmentRef, type OwnedObjects, type ProgressFn, type PulledImage, type RemovalReport, type Runtime,
  type ServiceState, type UpOptions,
} from '../../worker/runtime/runtime.js';
import type { StrandedVolume } from '../../worker/runtime/runtime.js';
import type { CloneVia, DataVolume, DatabaseSpec, Exec, LiveCopyTarget, ProbeResult, SnapshotEngine } from '../../worker/seeds/engine.js';

/**
 * Where a fault can be injected: `pull` (any image) or `pull:<image>`, `network`, `volume`,
 * `start:<service>` (creating and starting its container), `health:<service>` (waiting for it),
 * and in the snapshot engine `golden` (a golden build) and `clone`.
 */
export type Phase = string;

export interface FakeContainer {
  id: string;
  envId: string;
  service: string;
  generation: number;
  state: 'running' | 'exited' | 'created' | 'paused';
  exitCode?: number;
  ports: Record<string, number>;
  /** The named volumes it mounts. */
  mounts: string[];
  /** Where its ports answer when the engine moved it (a swarm node's address); absent: 127.0.0.1. */
  host?: string;
}
export interface FakeVolume { name: string; envId?: string; data: boolean }

/** A phase made to hang: the run that reaches it waits there until the test lets it go (or fail). */
export interface Hang {
  /** Resolves when a run has reached the phase (and is waiting there). */
  reached: Promise<void>;
  /** Lets the waiting run go on. */
  release(): void;
  /** Makes the waiting run's call fail with `err`. */
  fail(err: Error): void;
}

type Fault = { kind: 'fail'; error: Error; times: number } | { kind: 'hang'; gate: Promise<void>; reached: () => void };

export class FakeRuntime implements Runtime {
  readonly containers = new Map<string, FakeContainer>();
  readonly networks = new Map<string, { envId: string }>();
  readonly volumes = new Map<string, FakeVolume>();
  readonly pulled = new Set<string>();
  /** Every call that changes the engine, in order ("create network p_default", "remove env <id>"...). */
  readonly log: string[] = [];
  readonly snapshotEngine: FakeSnapshotEngine;
  private readonly faults = new Map<Phase, Fault>();
  private nextId = 1;
  private nextPort = 40000;

  constructor(readonly instance = 'fake') {
    this.snapshotEngine = new FakeSnapshotEngine(this);
  }

  /** The next `times` calls that reach `phase` fail with `error`. */
  failAt(phase: Phase, error: Error, times = 1): void {
    this.faults.set(phase, { kind: 'fail', error, times });
  }

  /** The next call that reaches `phase` waits there until the test releases (or fails) it. */
  hangAt(phase: Phase): Hang {
    let release!: () => void, fail!: (err: Error) => void, reached!: () => void;
    const gate = new Promise<void>((res, rej) => { release = res; fail = rej; });
    const reachedP = new Promise<void>((res) => { reached = res; });
    this.faults.set(phase, { kind: 'hang', gate, reached });
    return { reached: reachedP, release, fail };
  }

  /** Called at each phase: applies a fault injected there. */
  async at(phase: Phase): Promise<void> {
    const fault = this.faults.get(phase);
    if (!fault) return;
    if (fault.kind === 'fail') {
      if (--fault.times <= 0) this.faults.delete(phase);
      throw fault.error;
    }
    this.faults.delete(phase);
    fault.reached();
    await fault.gate;
  }

  /** The container of a service vanishes (someone ran `docker rm -f`, or the engine lost it). */
  vanish(env: { project: string }, service: string): void {
    this.containers.delete(containerName(env.project, service));
  }

  /** A service's container stops (its process died, or the engine restarted without it). */
  exit(env: { project: string }, service: string, exitCode: number): void {
    const c = this.containers.get(containerName(env.project, service));
    if (c) { c.state = 'exited'; c.exitCode = exitCode; }
  }

  /** A service's container is left paused (a worker killed in the middle of a live copy). */
  pause(env: { project: string }, service: string): void {
    const c = this.containers.get(containerName(env.project, service));
    if (!c) throw new Error(`no container for ${service}`);
    c.state = 'paused';
  }

  /** The engine moves a service's task to another node (a multi-node engine does this on its own): its ports answer at `host:port` now. */
  moveTask(env: { project: string }, service: string, host: string, port: number): void {
    const c = this.containers.get(containerName(env.project, service));
    if (!c) throw new Error(`no container for ${service}`);
    c.host = host;
    for (const k of Object.keys(c.ports)) c.ports[k] = port;
  }

  /** Objects labeled for an environment that the engine holds although nobody recorded them (an orphan). */
  plantOrphan(envId: string, project: string, opts: { data?: boolean } = {}): void {
    this.containers.set(containerName(project, 'web'), { id: `c${this.nextId++}`, envId, service: 'web', generation: 1, state: 'running', ports: {}, mounts: [] });
    this.networks.set(networkName(project), { envId });
    this.volumes.set(volumeName(project, 'dbdata'), { name: volumeName(project, 'dbdata'), envId, data: opts.data ?? true });
  }

  /** Golden snapshot volumes vanish (someone pruned volumes): the next clone builds its golden again. */
  dropGoldens(): void {
    for (const [name, v] of this.volumes) if (!v.envId) this.volumes.delete(name);
  }

  /** What the engine holds for one environment. */
  objectsOf(envId: string): { containers: FakeContainer[]; networks: string[]; volumes: string[] } {
    return {
      containers: [...this.containers.values()].filter((c) => c.envId === envId),
      networks: [...this.networks].filter(([, n]) => n.envId === envId).map(([name]) => name),
      volumes: [...this.volumes.values()].filter((v) => v.envId === envId).map((v) => v.name),
    };
  }

  async pull(image: string, onProgress?: ProgressFn): Promise<PulledImage> {
    await this.at('pull');
    await this.at(`pull:${image}`);
    this.pulled.add(image);
    onProgress?.(`pulling ${image}: 1 of 1 layers`, { step: 'pull', image });
    return { image, digest: `${image.replace(/:[^:/]+$/, '')}@sha256:${'0'.repeat(64)}` };
  }

  async prepareNetwork(env: EnvironmentRef): Promise<void> {
    await this.at('network');
    this.ensureNetwork(env);
  }

  private ensureNetwork(env: EnvironmentRef): void {
    const name = networkName(env.project);
    const existing = this.networks.get(name);
    if (existing && existing.envId !== env.id) throw new PermanentFailure('NAME_CLASH', `a network named ${name} exists that does not belong to this environment`);
    if (!existing) { this.networks.set(name, { envId: env.id }); this.log.push(`create network ${name}`); }
  }

  async up(env: EnvironmentRef, stack: StackSpec, opts: UpOptions): Promise<ServiceState[]> {
    // A fault comes before the step's guard: a run that paused there is fenced by it when it wakes.
    const guard = opts.guard ?? (async () => undefined);
    await this.at('network');
    await guard('create the network');
    this.ensureNetwork(env);
    for (const v of stack.volumes) {
      await this.at('volume');
      await guard(`create volume ${v}`);
      const name = volumeName(env.project, v);
      if (!this.volumes.has(name)) { this.volumes.set(name, { name, envId: env.id, data: true }); this.log.push(`create volume ${name}`); }
    }
    const healthy = new Set<string>();
    const waitFor = async (service: string) => {
      if (healthy.has(service)) return;
      if (opts.signal?.aborted) throw new Aborted();
      await this.at(`health:${service}`);
      if (opts.signal?.aborted) throw new Aborted();
      const c = this.containers.get(containerName(env.project, service));
      if (!c || c.state !== 'running') throw new PermanentFailure('SERVICE_EXITED', `${service} exited with code ${c?.exitCode ?? 1}`, { details: { service, logs: '' } });
      healthy.add(service);
    };
    for (const svc of stack.services) {
      for (const dep of svc.dependsOn) await waitFor(dep.service);
      await this.at(`start:${svc.name}`);
      const name = containerName(env.project, svc.name);
      const existing = this.containers.get(name);
      if (existing && existing.state === 'running' && existing.envId === env.id) {
        opts.onProgress?.(`${svc.name}: unchanged, kept running`, { service: svc.name, step: 'started' });
        continue;
      }
      if (existing) { await guard(`remove ${svc.name} to recreate it`); this.containers.delete(name); this.log.push(`remove container ${name}`); }
      await guard(`create ${svc.name}`);
      const ports = Object.fromEntries(svc.ports.map((p) => [`${p.container}/${p.protocol}`, this.nextPort++]));
      const mounts = svc.volumes.map((v) => volumeName(env.project, v.source));
      this.containers.set(name, { id: `c${this.nextId++}`, envId: env.id, service: svc.name, generation: env.generation, state: 'running', ports, mounts });
      this.log.push(`start container ${name}`);
      opts.onProgress?.(`${svc.name}: started (${svc.image})`, { service: svc.name, step: 'started' });
    }
    const states: ServiceState[] = [];
    for (const svc of stack.services) {
      await waitFor(svc.name);
      const c = this.containers.get(containerName(env.project, svc.name))!;
      states.push({ service: svc.name, containerId: c.id, running: true, health: 'healthy', ports: { ...c.ports } });
    }
    return states;
  }

  start(env: EnvironmentRef, stack: StackSpec, opts: UpOptions): Promise<ServiceState[]> {
    for (const c of this.containers.values()) if (c.envId === env.id && c.state === 'exited') c.state = 'running';
    return this.up(env, stack, opts);
  }

  async stop(envId: string): Promise<number> {
    let n = 0;
    for (const c of this.containers.values()) if (c.envId === envId && c.state === 'running') { c.state = 'exited'; c.exitCode = 0; n++; }
    return n;
  }

  async exec(): Promise<{ exitCode: number; output: string }> {
    return { exitCode: 0, output: '' };
  }

  async logs(): Promise<string> {
    return '';
  }

  async services(envId: string): Promise<ServiceStatus[]> {
    return [...this.containers.values()].filter((c) => c.envId === envId).map((c) => ({
      service: c.service, state: c.state, running: c.state === 'running', health: 'healthy' as const, image: '', imageId: '', startedAt: null,
    }));
  }

  async logStream(env: EnvironmentRef, service: string): Promise<Readable | undefined> {
    return this.containers.has(containerName(env.project, service)) ? Readable.from(['']) : undefined;
  }

  async remove(envId: string, opts: { keepData?: boolean } = {}): Promise<RemovalReport> {
    this.log.push(`remove env ${envId}${opts.keepData ? ' (keep data)' : ''}`);
    const report: RemovalReport = { containers: 0, networks: 0, volumes: 0, kept: 0 };
    for (const [name, c] of this.containers) if (c.envId === envId) { this.containers.delete(name); report.containers++; }
    for (const [name, n] of this.networks) if (n.envId === envId) { this.networks.delete(name); report.networks++; }
    for (const [name, v] of this.volumes) {
      if (v.envId !== envId) continue;
      if (opts.keepData && v.data) { report.kept++; continue; }
      this.volumes.delete(name);
      report.volumes++;
    }
    return report;
  }

  async listOwned(): Promise<OwnedObjects> {
    return {
      containers: [...this.containers.values()].map((c) => ({ id: c.id, envId: c.envId, service: c.service, state: c.state, ...(c.exitCode !== undefined ? { exitCode: c.exitCode } : {}) })),
      networks: [...this.networks].map(([name, n]) => ({ id: name, envId: n.envId })),
      volumes: [...this.volumes.values()].filter((v) => v.envId).map((v) => ({ name: v.name, envId: v.envId! })),
    };
  }

  async removeDeadHelpers(): Promise<number> {
    return 0;
  }

  /** Data volumes a test says sit on a node that takes no tasks (a multi-node runtime's answer), by environment. */
  readonly stranded = new Map<string, StrandedVolume[]>();

  async strandedData(envId: string): Promise<StrandedVolume[]> {
    return this.stranded.get(envId) ?? [];
  }

  async resumePaused(envId: string): Promise<string[]> {
    const paused = [...this.containers.values()].filter((c) => c.envId === envId && c.state === 'paused');
    for (const c of paused) c.state = 'running';
    return paused.map((c) => c.service);
  }

  async whereServicesRun(envId: string): Promise<ServiceState[]> {
    return [...this.containers.values()].filter((c) => c.envId === envId && c.state === 'running')
      .map((c) => ({ service: c.service, containerId: c.id, running: true, health: 'healthy' as const, ports: { ...c.ports }, ...(c.host ? { host: c.host } : {}) }));
  }
}

/** The SnapshotEngine port on the same in-memory engine: goldens and clones are volumes in it. */
export class FakeSnapshotEngine implements SnapshotEngine {
  probeResult: ProbeResult = { reflink: false, overlay: false, copy: true, notes: {}, unsure: [] };

  constructor(private readonly engine: FakeRuntime) {}

  goldenVolume(key: string): string {
    return goldenVolume(this.engine.instance, key);
  }

  async probe(): Promise<ProbeResult> {
    return this.probeResult;
  }

  async buildGolden(_key: string, volume: string, _db: DatabaseSpec, load: (exec: Exec) => Promise<void>): Promise<{ sizeBytes: number | null }> {
    await this.engine.at('golden');
    this.engine.volumes.set(volume, { name: volume, data: false });
    await load(async (_cmd, input) => { input?.resume(); return { exitCode: 0, output: '' }; });
    return { sizeBytes: 1 };
  }

  async clone(_strategy: string, golden: string, into: DataVolume): Promise<CloneVia> {
    if (!this.engine.volumes.has(golden)) throw new PermanentFailure('CLONE_FAILED', `golden volume ${golden} is missing`);
    await this.engine.at('clone');
    const name = volumeName(into.env.project, into.volume);
    // As Docker does: a volume a running container uses cannot be replaced (409 on its removal).
    const users = [...this.engine.containers.values()].filter((c) => c.mounts.includes(name) && c.state === 'running');
    if (this.engine.volumes.has(name) && users.length) throw new PermanentFailure('CLONE_FAILED', `volume ${name} is in use`);
    this.engine.volumes.set(name, { name, envId: into.env.id, data: true });
    this.engine.log.push(`clone ${golden} into ${name}`);
    return 'host';
  }

  async copyLive(from: DataVolume, _service: string, into: LiveCopyTarget): Promise<{ pauseMs: number; sizeBytes: number | null; via: CloneVia }> {
    const source = volumeName(from.env.project, from.volume);
    if (!this.engine.volumes.has(source)) throw new PermanentFailure('DATABASE_VOLUME_MISSING', `the data volume ${source} is gone`);
    const name = into.kind === 'checkpoint' ? checkpointVolume(into.env.project, into.id) : into.kind === 'capsule' ? into.volume : volumeName(into.into.env.project, into.into.volume);
    const envId = into.kind === 'checkpoint' ? into.env.id : into.kind === 'capsule' ? '' : into.into.env.id;
    // As the Docker engine does: whatever the target held goes, a fresh volume is made, then filled
    // (phase 'copy': a run that stops there leaves a half-made volume, data: false).
    this.engine.volumes.set(name, { name, envId, data: false });
    await this.engine.at('copy');
    this.engine.volumes.set(name, { name, envId, data: true });
    this.engine.log.push(`copy ${source} into ${name}`);
    return { pauseMs: 0, sizeBytes: 1, via: 'host' };
  }

  async saveVolume(_from: DataVolume, golden: string): Promise<{ sizeBytes: number | null }> {
    this.engine.volumes.set(golden, { name: golden, data: false });
    return { sizeBytes: 1 };
  }

  async volumeExists(name: string): Promise<boolean> {
    return this.engine.volumes.has(name);
  }

  async removeVolume(name: string): Promise<void> {
    this.engine.volumes.delete(name);
  }

  async removeDataVolume(of: DataVolume): Promise<void> {
    const name = volumeName(of.env.project, of.volume);
    if (this.engine.volumes.delete(name)) this.engine.log.push(`remove volume ${name}`);
  }

  async removeService(env: EnvironmentRef, service: string): Promise<void> {
    const name = containerName(env.project, service);
    if (this.engine.containers.delete(name)) this.engine.log.push(`remove container ${name}`);
  }

  async stopService(env: EnvironmentRef, service: string): Promise<void> {
    const c = this.engine.containers.get(containerName(env.project, service));
    if (c) c.state = 'exited';
  }

  async startService(env: EnvironmentRef, service: string): Promise<void> {
    const c = this.engine.containers.get(containerName(env.project, service));
    if (c) c.state = 'running';
  }
}
