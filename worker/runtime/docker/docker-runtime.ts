import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import type { RegistryCredentials } from '../../../core/config/registry.js';
import { LABEL_ENV, LABEL_INSTANCE } from '../../../core/domain/names.js';
import type { ServiceStatus } from '../../../core/platform/internal-api.js';
import type { ServiceSpec, StackSpec } from '../../../core/stack/model.js';
import {
  Aborted, isDataVolume, type EnvironmentRef, type Guard, type OwnedObjects, type ProgressFn, type PulledImage, type RemovalReport,
  type Runtime, type ServiceState, type UpOptions,
} from '../runtime.js';
import { Containers } from './containers.js';
import { CpuBoost, type StartOptions } from './cpu-boost.js';
import { ProbedHealth } from './health.js';
import { Images } from './images.js';
import { Networks } from './networks.js';
import { Volumes } from './volumes.js';
import { ServiceWaiter } from './wait.js';

/**
 * The Runtime port on one Docker Engine: a facade over small clients per resource (images,
 * networks, volumes, containers, and the health waits). It orders their steps (network, volumes,
 * containers in dependency order, waits) and removes by label; the clients do the Engine API calls.
 */
export class DockerRuntime implements Runtime {
  private readonly images: Images;
  private readonly networks: Networks;
  private readonly volumes: Volumes;
  private readonly containers: Containers;
  private readonly waiter: ServiceWaiter;

  /**
   * @param instance this Mayfly installation's name (MAYFLY_INSTANCE): every object is labeled
   * with it, and the orphan reaper only ever looks at objects of its own instance, so two
   * installations (or test runs) can share one Docker Engine.
   * @param probedHealth runs our own probe saw healthy, shared with the snapshot engine (see ProbedHealth).
   * @param pullTimeoutMs how long one image pull may take (MAYFLY_PULL_TIMEOUT).
   */
  constructor(
    docker: Docker, private readonly instance: string, credentials?: RegistryCredentials,
    startOptions: StartOptions = { cpuBoost: true }, probedHealth: ProbedHealth = new ProbedHealth(), pullTimeoutMs?: number,
  ) {
    this.images = new Images(docker, credentials, pullTimeoutMs);
    this.networks = new Networks(docker, instance);
    this.volumes = new Volumes(docker, instance);
    this.containers = new Containers(docker, instance, this.images, new CpuBoost(docker, startOptions), probedHealth);
    this.waiter = new ServiceWaiter(probedHealth, (env, service, tail) => this.containers.logs(env, service, tail));
  }

  pull(image: string, onProgress?: ProgressFn): Promise<PulledImage> {
    return this.images.pull(image, onProgress);
  }

  prepareNetwork(env: EnvironmentRef): Promise<void> {
    return this.networks.ensure(env);
  }

  async up(env: EnvironmentRef, stack: StackSpec, opts: UpOptions, startStopped = false): Promise<ServiceState[]> {
    const guard: Guard = opts.guard ?? (async () => undefined);
    const began = Date.now();
    const timings = opts.timings;
    await guard('create the network');
    await this.networks.ensure(env);
    // Volumes are independent of each other: made at once.
    await Promise.all(stack.volumes.map(async (v) => {
      await guard(`create volume ${v}`);
      await this.volumes.ensure(env, v);
    }));
    if (timings) timings.networkMs += Date.now() - began;
    const deadline = Date.now() + opts.healthTimeoutMs;
    const byName = new Map(stack.services.map((s) => [s.name, s]));
    /** Services seen healthy (by Docker or by our own probe): their CPU limit applies from then on. */
    const healthy = new Set<string>();
    const settle = async (service: string, c: Docker.Container) => {
      if (healthy.has(service)) return;
      healthy.add(service);
      await guard(`apply ${service}'s CPU limit`);
      await this.containers.applyCpuLimit(c, byName.get(service)!);
    };
    // Every service starts as soon as its own dependencies meet their conditions (compose's
    // depends_on), not after the services listed before it: independent services start in parallel.
    let failed = false;
    const started = new Map<string, Promise<Docker.Container>>();
    const startOne = async (svc: ServiceSpec): Promise<Docker.Container> => {
      await Promise.all(svc.dependsOn.map(async (dep) => {
        const c = await started.get(dep.service)!;
        if (healthy.has(dep.service)) return;
        await this.waiter.until(env, dep.service, c, dep.condition, deadline, opts);
        if (dep.condition === 'service_healthy') await settle(dep.service, c);
      }));
      if (failed) throw new Aborted();
      return this.containers.ensure(env, svc, opts.onProgress, startStopped, guard, timings);
    };
    // stack.services is in dependency order, so a service's dependencies are in the map before it.
    for (const svc of stack.services) {
      const p = startOne(svc);
      p.catch(() => { failed = true; });
      started.set(svc.name, p);
    }
    const outcomes = await Promise.allSettled([...started.values()]);
    const firstError = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected' && !(o.reason instanceof Aborted))
      ?? outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (firstError) throw firstError.reason;
    const states = await Promise.all(stack.services.map(async (svc) => {
      const c = await started.get(svc.name)!;
      if (!healthy.has(svc.name)) await this.waiter.until(env, svc.name, c, 'service_healthy_if_any', deadline, opts);
      await settle(svc.name, c);
      return this.containers.state(svc.name, c);
    }));
    if (timings) timings.healthyMs += Math.max(0, Date.now() - began - timings.networkMs - timings.createMs - timings.startMs);
    return states;
  }

  start(env: EnvironmentRef, stack: StackSpec, opts: UpOptions): Promise<ServiceState[]> {
    return this.up(env, stack, opts, true);
  }

  stop(envId: string): Promise<number> {
    return this.containers.stop(envId);
  }

  exec(env: EnvironmentRef, service: string, cmd: string[], input?: Readable): Promise<{ exitCode: number; output: string }> {
    return this.containers.exec(env, service, cmd, input);
  }

  logs(env: EnvironmentRef, service: string, tail: number): Promise<string> {
    return this.containers.logs(env, service, tail);
  }

  logStream(env: EnvironmentRef, service: string, opts: { tail: number; follow: boolean }): Promise<Readable | undefined> {
    return this.containers.logStream(env, service, opts);
  }

  services(envId: string): Promise<ServiceStatus[]> {
    return this.containers.services(envId);
  }

  /** By label, in the order containers, networks, volumes (what holds a thing goes before it). */
  async remove(envId: string, opts: { keepData?: boolean } = {}): Promise<RemovalReport> {
    const filter = { label: [`${LABEL_ENV}=${envId}`] };
    const report: RemovalReport = { containers: 0, networks: 0, volumes: 0, kept: 0 };
    const containers = await this.containers.list(filter);
    const networks = await this.networks.list(filter);
    // A container someone attached to the environment's network would keep it alive: it goes too.
    const attached = new Set([...containers.map((c) => c.Id), ...await this.networks.attached(networks)]);
    report.containers = await this.containers.remove(attached);
    report.networks = await this.networks.remove(networks);
    for (const v of await this.volumes.list(filter)) {
      if (opts.keepData && isDataVolume(v.Labels)) { report.kept++; continue; }
      if (await this.volumes.remove(v.Name)) report.volumes++;
    }
    return report;
  }

  async listOwned(): Promise<OwnedObjects> {
    const filter = { label: [LABEL_ENV, `${LABEL_INSTANCE}=${this.instance}`] };
    const [containers, networks, volumes] = await Promise.all([this.containers.owned(), this.networks.list(filter), this.volumes.list(filter)]);
    return {
      containers,
      networks: networks.map((n) => ({ id: n.Id, envId: n.Labels?.[LABEL_ENV] ?? '' })),
      volumes: volumes.map((v) => ({ name: v.Name, envId: v.Labels?.[LABEL_ENV] ?? '' })),
    };
  }

  resumePaused(envId: string): Promise<string[]> {
    return this.containers.resumePaused(envId);
  }

  async removeDeadHelpers(graceMs: number): Promise<number> {
    // Clone-probe volumes get longer: a probe takes seconds, and one still in use stays anyway.
    return (await this.containers.removeDeadHelpers(graceMs)) + (await this.volumes.removeProbeLeftovers(graceMs * 4));
  }
}
