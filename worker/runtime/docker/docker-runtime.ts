import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { PassThrough, Readable } from 'node:stream';
import type Docker from 'dockerode';
import { PermanentFailure, MayflyError } from '../../../core/domain/errors.js';
import {
  LABEL_COMPOSE_NETWORK, LABEL_COMPOSE_PROJECT, LABEL_COMPOSE_SERVICE, LABEL_COMPOSE_VOLUME, LABEL_ROLE, ROLE_DATA,
  LABEL_CONFIG_HASH, LABEL_ENV, LABEL_GENERATION, LABEL_INSTANCE,
} from '../../../core/domain/environment.js';
import type { ServiceSpec, StackSpec } from '../../../core/stack/model.js';
import { registryOf } from '../../../core/stack/policy.js';
import type { RegistryCredentials } from '../../../core/config/registry.js';
import type { ServiceStatus } from '../../../core/platform/internal-api.js';
import { isDataVolume, type EnvironmentRef, type Guard, type OwnedObjects, type ProgressFn, type PulledImage, type RemovalReport, type Runtime, type ServiceState, type UpOptions } from '../runtime.js';
import { dockerMessage, dockerStatus, isConflict, isNotFound } from './errors.js';
import { execInContainer } from './exec.js';
import { HealthProber, lastCheckOutput, ProbedHealth } from './health.js';
import { PullProgress, type PullEvent } from './pull-progress.js';
import { demux } from './streams.js';

const MS = 1_000_000; // nanoseconds per millisecond

/** Compose's object names, so `docker compose -p <project> ps` understands the stack. */
export const networkName = (project: string) => `${project}_default`;
export const volumeName = (project: string, volume: string) => `${project}_${volume}`;
export const containerName = (project: string, service: string) => `${project}-${service}-1`;

/** Thrown when a wait or a pull is cut short because the environment was destroyed meanwhile. */
export class Aborted extends MayflyError {
  constructor() {
    super('ABORTED', 409, 'aborted: the environment is going away');
  }
}

function baseLabels(instance: string, env: EnvironmentRef): Record<string, string> {
  return { [LABEL_ENV]: env.id, [LABEL_INSTANCE]: instance, [LABEL_GENERATION]: String(env.generation), [LABEL_COMPOSE_PROJECT]: env.project };
}

/** The Engine API body for a service's container; its hash decides whether a container is reused. */
export function containerSpec(instance: string, env: EnvironmentRef, svc: ServiceSpec): Docker.ContainerCreateOptions {
  const exposed: Record<string, object> = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const p of svc.ports) {
    exposed[`${p.container}/${p.protocol}`] = {};
    bindings[`${p.container}/${p.protocol}`] = [{ HostIp: '127.0.0.1', HostPort: '' }];
  }
  const spec: Docker.ContainerCreateOptions = {
    Image: svc.image,
    Env: Object.entries(svc.environment).map(([k, v]) => `${k}=${v}`),
    Labels: {
      ...svc.labels,
      [LABEL_ENV]: env.id,
      [LABEL_INSTANCE]: instance,
      [LABEL_COMPOSE_PROJECT]: env.project,
      [LABEL_COMPOSE_SERVICE]: svc.name,
      'com.docker.compose.container-number': '1',
      'com.docker.compose.oneoff': 'False',
    },
    ExposedPorts: exposed,
    HostConfig: {
      Memory: svc.limits.memoryBytes,
      MemorySwap: svc.limits.memoryBytes,
      NanoCpus: svc.limits.nanoCpus,
      PidsLimit: svc.limits.pids,
      PortBindings: bindings,
      Mounts: [
        ...svc.volumes.map((v) => ({ Type: 'volume' as const, Source: volumeName(env.project, v.source), Target: v.target, ReadOnly: v.readOnly })),
        // Only host paths the stack policy allowed reach here (MAYFLY_ALLOWED_BIND_MOUNTS).
        ...(svc.binds ?? []).map((b) => ({ Type: 'bind' as const, Source: b.source, Target: b.target, ReadOnly: b.readOnly })),
      ],
      Tmpfs: Object.fromEntries(svc.tmpfs.map((t) => [t, ''])),
      RestartPolicy: { Name: svc.restart === 'no' ? '' : svc.restart },
      NetworkMode: networkName(env.project),
      Init: false,
      // Hardening on top of the stack policy: no privilege gained through setuid binaries, no raw
      // sockets (ping-style spoofing on the environment network) and no device nodes. svc.hostAccess
      // (privileged, cap_add, host namespaces, devices) is never mapped: policy refuses it before.
      SecurityOpt: ['no-new-privileges:true'],
      CapDrop: ['NET_RAW', 'MKNOD'],
      Privileged: false,
    },
    NetworkingConfig: { EndpointsConfig: { [networkName(env.project)]: { Aliases: [svc.name] } } },
  };
  if (svc.command) spec.Cmd = svc.command;
  if (svc.entrypoint) spec.Entrypoint = svc.entrypoint;
  if (svc.workingDir) spec.WorkingDir = svc.workingDir;
  if (svc.shmBytes) spec.HostConfig!.ShmSize = svc.shmBytes;
  if (svc.user) spec.User = svc.user;
  if (svc.stopGraceSeconds !== undefined) spec.StopTimeout = svc.stopGraceSeconds;
  if (svc.healthcheck) {
    spec.Healthcheck = {
      Test: svc.healthcheck.test,
      ...(svc.healthcheck.intervalMs ? { Interval: svc.healthcheck.intervalMs * MS } : {}),
      ...(svc.healthcheck.timeoutMs ? { Timeout: svc.healthcheck.timeoutMs * MS } : {}),
      ...(svc.healthcheck.retries ? { Retries: svc.healthcheck.retries } : {}),
      ...(svc.healthcheck.startPeriodMs ? { StartPeriod: svc.healthcheck.startPeriodMs * MS } : {}),
      // Docker 25+ (API 1.44) checks at this pace during StartPeriod; older engines ignore the field.
      ...(svc.healthcheck.startIntervalMs ? { StartInterval: svc.healthcheck.startIntervalMs * MS } : {}),
    };
  }
  const hash = createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 16);
  spec.Labels![LABEL_CONFIG_HASH] = hash;
  spec.Labels![LABEL_GENERATION] = String(env.generation);
  return spec;
}

/** The exit code in a container list entry's status ("Exited (137) 2 seconds ago"). */
function exitCodeOf(status: string | undefined): number | undefined {
  const m = /^Exited \((-?\d+)\)/.exec(status ?? '');
  return m ? Number(m[1]) : undefined;
}

/** How the runtime starts services; see docs/how-it-works.md (MAYFLY_START_CPU_BOOST). */
export interface StartOptions {
  /**
   * Start each container with the engine's whole CPU and apply the service's CPU limit once it is
   * healthy: a Node app limited to half a core boots in twice the time. Memory and pids limits
   * always hold from the start. An environment only becomes ready after its limits are applied.
   */
  cpuBoost: boolean;
}

export class DockerRuntime implements Runtime {
  private engineCpus?: Promise<number>;
  /**
   * @param instance this Mayfly installation's name (MAYFLY_INSTANCE): every object is labeled
   * with it, and the orphan reaper only ever looks at objects of its own instance, so two
   * installations (or test runs) can share one Docker Engine.
   */
  constructor(
    private readonly docker: Docker, private readonly instance: string, private readonly credentials?: RegistryCredentials,
    private readonly startOptions: StartOptions = { cpuBoost: true },
    /** Runs our own probe saw healthy, shared with the snapshot engine (see ProbedHealth). */
    private readonly probedHealth: ProbedHealth = new ProbedHealth(),
  ) {}

  /** The CPU a boosted container may use while it starts: all of the engine's (NanoCpus 0 means "unchanged" to an update). */
  private boostNanoCpus(): Promise<number> {
    this.engineCpus ??= this.docker.info().then((i: { NCPU?: number }) => Math.max(1, i.NCPU ?? 1) * 1e9, (err) => {
      this.engineCpus = undefined;
      throw err;
    });
    return this.engineCpus;
  }

  /** Whether a service starts boosted: only when it has a CPU limit below the engine's. */
  private async boostFor(svc: ServiceSpec): Promise<number | undefined> {
    if (!this.startOptions.cpuBoost || !svc.limits.nanoCpus) return undefined;
    const all = await this.boostNanoCpus();
    return svc.limits.nanoCpus < all ? all : undefined;
  }

  /** Applies the service's CPU limit (after a boosted start); a no-op when it already holds. */
  private async applyCpuLimit(c: Docker.Container, svc: ServiceSpec): Promise<void> {
    if (!svc.limits.nanoCpus) return;
    if ((await c.inspect()).HostConfig.NanoCpus === svc.limits.nanoCpus) return;
    await c.update({ NanoCpus: svc.limits.nanoCpus });
  }

  async pull(image: string, onProgress?: ProgressFn): Promise<PulledImage> {
    let stream: NodeJS.ReadableStream;
    // Credentials go only into this request's X-Registry-Auth header: never into logs, events or errors.
    const registry = registryOf(image);
    const authconfig = registry ? this.credentials?.authFor(registry) : undefined;
    try {
      stream = await this.docker.pull(image, authconfig ? { authconfig } : {});
    } catch (err) {
      throw this.pullError(image, err);
    }
    const progress = new PullProgress(image, onProgress);
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(
        stream,
        (err: Error | null, output: { error?: string; errorDetail?: { message?: string } }[]) => {
          progress.done();
          const streamError = err ?? output?.find((o) => o.error);
          if (streamError) {
            const message = err ? dockerMessage(err) : (streamError as { error: string }).error;
            reject(new PermanentFailure('IMAGE_PULL_FAILED', `pulling ${image} failed: ${message}`, { cause: err ?? undefined }));
          } else resolve();
        },
        (event: PullEvent) => progress.seen(event),
      );
    });
    const info = await this.docker.getImage(image).inspect();
    const repository = image.replace(/@.*$/, '').replace(/:[^:/]+$/, '');
    const digest = info.RepoDigests?.find((d) => d.startsWith(`${repository}@`)) ?? info.RepoDigests?.[0] ?? info.Id;
    return { image, digest };
  }

  private pullError(image: string, err: unknown): Error {
    const status = dockerStatus(err);
    if (status === 404) return new PermanentFailure('IMAGE_NOT_FOUND', `image ${image} does not exist in its registry (${dockerMessage(err)})`, { cause: err });
    if (status === 401 || status === 403) return new PermanentFailure('IMAGE_UNAUTHORIZED', `the registry refused ${image}: ${dockerMessage(err)}`, { cause: err });
    // 400 from /images/create is the engine refusing the reference itself ("invalid reference
    // format", "invalid tag format", "invalid checksum digest length"): the same reference fails
    // the same way on every retry.
    if (status === 400) return new PermanentFailure('INVALID_IMAGE_REF', `the Docker engine refused ${image} as an image reference: ${dockerMessage(err)}`, { cause: err });
    // 500 from the engine covers unreachable registries: worth a retry, and if every attempt
    // fails the environment fails with the documented code, not a generic one.
    return new MayflyError('IMAGE_PULL_FAILED', 502, `pulling ${image} failed (is its registry up?): ${dockerMessage(err)}`, { cause: err });
  }

  prepareNetwork(env: EnvironmentRef): Promise<void> {
    return this.ensureNetwork(env);
  }

  private async ensureNetwork(env: EnvironmentRef): Promise<void> {
    const name = networkName(env.project);
    try {
      await this.docker.createNetwork({
        Name: name, Driver: 'bridge', CheckDuplicate: true,
        Labels: { ...baseLabels(this.instance, env), [LABEL_COMPOSE_NETWORK]: 'default' },
      });
    } catch (err) {
      if (/available, non-overlapping IPv4 address pool/.test(dockerMessage(err))) {
        const count = await this.docker.listNetworks().then((n) => String(n.length), () => 'unknown');
        throw new PermanentFailure('NETWORK_POOLS_EXHAUSTED',
          `Docker has no address range left for this environment's network (${count} networks exist; each environment needs one). `
          + 'Destroy environments or unused networks (docker network prune), cap them with MAYFLY_MAX_ENVIRONMENTS, '
          + 'or give dockerd more pools (default-address-pools in /etc/docker/daemon.json; see docs/limits.md)', { cause: err });
      }
      if (!isConflict(err)) throw err;
      const info = await this.docker.getNetwork(name).inspect();
      if (info.Labels?.[LABEL_ENV] !== env.id) {
        throw new PermanentFailure('NAME_CLASH', `a network named ${name} exists that does not belong to this environment`);
      }
    }
  }

  private async ensureVolume(env: EnvironmentRef, volume: string): Promise<void> {
    const name = volumeName(env.project, volume);
    const existing = await this.docker.getVolume(name).inspect().catch((err) => (isNotFound(err) ? undefined : Promise.reject(err)));
    if (existing) {
      if (existing.Labels?.[LABEL_ENV] !== env.id) throw new PermanentFailure('NAME_CLASH', `a volume named ${name} exists that does not belong to this environment`);
      return;
    }
    await this.docker.createVolume({ Name: name, Labels: { ...baseLabels(this.instance, env), [LABEL_COMPOSE_VOLUME]: volume, [LABEL_ROLE]: ROLE_DATA } });
  }

  /**
   * Creates the service's container unless one with the same configuration is already running.
   * With `startStopped` (a wake), a stopped container with the same configuration and image is
   * started as it is instead of recreated.
   */
  private async ensureContainer(env: EnvironmentRef, svc: ServiceSpec, onProgress?: ProgressFn, startStopped = false, guard: Guard = async () => undefined): Promise<Docker.Container> {
    const name = containerName(env.project, svc.name);
    const spec = containerSpec(this.instance, env, svc);
    const existing = this.docker.getContainer(name);
    const info = await existing.inspect().catch((err) => (isNotFound(err) ? undefined : Promise.reject(err)));
    if (info) {
      if (info.Config.Labels?.[LABEL_ENV] !== env.id) throw new PermanentFailure('NAME_CLASH', `a container named ${name} exists that does not belong to this environment`);
      // Same configuration and the same image content (a tag re-pushed with new code is a new image id).
      const imageId = await this.docker.getImage(svc.image).inspect().then((i) => i.Id, () => undefined);
      const sameImage = imageId === undefined || info.Image === imageId;
      if (info.Config.Labels?.[LABEL_CONFIG_HASH] === spec.Labels![LABEL_CONFIG_HASH] && sameImage && info.State.Running) {
        onProgress?.(`${svc.name}: unchanged, kept running`, { service: svc.name, step: 'started' });
        return existing;
      }
      if (startStopped && info.Config.Labels?.[LABEL_CONFIG_HASH] === spec.Labels![LABEL_CONFIG_HASH] && sameImage) {
        const boost = await this.boostFor(svc);
        await guard(`start ${svc.name} again`);
        if (boost) await existing.update({ NanoCpus: boost });
        await existing.start().catch((err) => (dockerStatus(err) === 304 ? undefined : Promise.reject(err))); // 304: already started
        onProgress?.(`${svc.name}: started again`, { service: svc.name });
        return existing;
      }
      await guard(`remove ${svc.name} to recreate it`);
      onProgress?.(`${svc.name}: ${sameImage ? 'configuration changed' : 'new image for its tag'}, recreating`, { service: svc.name });
      await existing.remove({ force: true, v: true }).catch((err) => (isNotFound(err) ? undefined : Promise.reject(err)));
    }
    const boost = await this.boostFor(svc);
    await guard(`create ${svc.name}`);
    const container = await this.docker.createContainer({ ...spec, name, ...(boost ? { HostConfig: { ...spec.HostConfig, NanoCpus: boost } } : {}) });
    await guard(`start ${svc.name}`);
    await container.start();
    onProgress?.(`${svc.name}: started (${svc.image})`, { service: svc.name, step: 'started' });
    return container;
  }

  async up(env: EnvironmentRef, stack: StackSpec, opts: UpOptions, startStopped = false): Promise<ServiceState[]> {
    const guard: Guard = opts.guard ?? (async () => undefined);
    await guard('create the network');
    await this.ensureNetwork(env);
    for (const v of stack.volumes) {
      await guard(`create volume ${v}`);
      await this.ensureVolume(env, v);
    }
    const deadline = Date.now() + opts.healthTimeoutMs;
    const containers = new Map<string, Docker.Container>();
    const byName = new Map(stack.services.map((s) => [s.name, s]));
    /** Services seen healthy (by Docker or by our own probe): their CPU limit applies from then on. */
    const healthy = new Set<string>();
    const settle = async (service: string) => {
      if (healthy.has(service)) return;
      healthy.add(service);
      await guard(`apply ${service}'s CPU limit`);
      await this.applyCpuLimit(containers.get(service)!, byName.get(service)!);
    };
    for (const svc of stack.services) {
      for (const dep of svc.dependsOn) {
        if (healthy.has(dep.service)) continue;
        await this.waitFor(env, dep.service, containers.get(dep.service)!, dep.condition, deadline, opts);
        if (dep.condition === 'service_healthy') await settle(dep.service);
      }
      containers.set(svc.name, await this.ensureContainer(env, svc, opts.onProgress, startStopped, guard));
    }
    const states: ServiceState[] = [];
    for (const svc of stack.services) {
      const c = containers.get(svc.name)!;
      if (!healthy.has(svc.name)) await this.waitFor(env, svc.name, c, 'service_healthy_if_any', deadline, opts);
      await settle(svc.name);
      states.push(await this.state(svc.name, c));
    }
    return states;
  }

  async start(env: EnvironmentRef, stack: StackSpec, opts: UpOptions): Promise<ServiceState[]> {
    return this.up(env, stack, opts, true);
  }

  async stop(envId: string): Promise<number> {
    const containers = await this.docker.listContainers({ filters: { label: [`${LABEL_ENV}=${envId}`], status: ['running', 'restarting'] } });
    let stopped = 0;
    // Each container gets its own stop_grace_period (StopTimeout) before it is killed.
    await Promise.all(containers.map(async (c) => {
      await this.docker.getContainer(c.Id).stop().then(() => { stopped++; }, (err) => {
        if (isNotFound(err) || dockerStatus(err) === 304) return; // gone, or already stopped
        throw err;
      });
    }));
    return stopped;
  }

  private async state(service: string, c: Docker.Container): Promise<ServiceState> {
    const info = await c.inspect();
    const ports: Record<string, number> = {};
    for (const [port, binds] of Object.entries(info.NetworkSettings.Ports ?? {})) {
      const hostPort = binds?.find((b) => b.HostIp === '127.0.0.1' || b.HostIp === '0.0.0.0')?.HostPort ?? binds?.[0]?.HostPort;
      if (hostPort) ports[port] = Number(hostPort);
    }
    return { service, containerId: info.Id, running: info.State.Running, health: this.probedHealth.of(info), ports };
  }

  /** Waits until a service meets a condition; a service that exits or turns unhealthy fails at once, with its logs. */
  private async waitFor(
    env: EnvironmentRef, service: string, c: Docker.Container,
    condition: 'service_started' | 'service_healthy' | 'service_completed_successfully' | 'service_healthy_if_any',
    deadline: number, opts: { onProgress?: ProgressFn; signal?: AbortSignal },
  ): Promise<void> {
    let announced = false;
    const prober = new HealthProber(c, this.probedHealth);
    for (;;) {
      if (opts.signal?.aborted) throw new Aborted();
      const info = await c.inspect();
      const st = info.State;
      const hasHealth = !!info.Config.Healthcheck?.Test?.length && info.Config.Healthcheck.Test[0] !== 'NONE';
      if (condition === 'service_completed_successfully') {
        if (!st.Running && st.Status === 'exited') {
          if (st.ExitCode === 0) return;
          throw await this.serviceFailure(env, service, 'SERVICE_EXITED', `${service} exited with code ${st.ExitCode}`);
        }
      } else {
        if (!st.Running && !st.Restarting) {
          throw await this.serviceFailure(env, service, 'SERVICE_EXITED', `${service} exited with code ${st.ExitCode}${st.OOMKilled ? ' (killed: out of memory, raise mem_limit)' : ''}`);
        }
        if (condition === 'service_started' && st.Running) return;
        if (condition === 'service_healthy' && !hasHealth) {
          throw new PermanentFailure('NO_HEALTHCHECK', `a service depends on ${service} being healthy, but ${service} has no healthcheck (add one to the template)`);
        }
        if (!hasHealth && st.Running) return;
        if (hasHealth && prober.seesHealthy(info)) {
          if (announced) opts.onProgress?.(`${service}: healthy`, { service });
          return;
        }
        if (st.Health?.Status === 'unhealthy') {
          throw await this.serviceFailure(env, service, 'SERVICE_UNHEALTHY', `${service} is unhealthy: ${lastCheckOutput(st)}`);
        }
        if (!announced) { opts.onProgress?.(`${service}: waiting for healthy`, { service }); announced = true; }
        if (hasHealth && st.Running && condition !== 'service_started') prober.maybeProbe(info.Config.Healthcheck!);
      }
      if (Date.now() > deadline) {
        throw await this.serviceFailure(env, service, 'HEALTH_TIMEOUT', `${service} was not healthy in time (MAYFLY_HEALTH_TIMEOUT)`);
      }
      await prober.nextLook(250);
    }
  }

  private async serviceFailure(env: EnvironmentRef, service: string, code: string, message: string): Promise<PermanentFailure> {
    const logs = await this.logs(env, service, 20).catch(() => '');
    return new PermanentFailure(code, message, { details: { service, logs } });
  }

  async exec(env: EnvironmentRef, service: string, cmd: string[], input?: Readable): Promise<{ exitCode: number; output: string }> {
    return execInContainer(this.docker.getContainer(containerName(env.project, service)), cmd, input);
  }

  async logs(env: EnvironmentRef, service: string, tail: number): Promise<string> {
    const c = this.docker.getContainer(containerName(env.project, service));
    const buf = (await c.logs({ stdout: true, stderr: true, tail, follow: false })) as unknown as Buffer;
    return demux(Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf)));
  }

  async remove(envId: string, opts: { keepData?: boolean } = {}): Promise<RemovalReport> {
    const filter = { label: [`${LABEL_ENV}=${envId}`] };
    const report: RemovalReport = { containers: 0, networks: 0, volumes: 0, kept: 0 };
    const gone = (err: unknown) => { if (!isNotFound(err)) throw err; };

    const containers = await this.docker.listContainers({ all: true, filters: filter });
    const networks = await this.docker.listNetworks({ filters: filter });
    // A container someone attached to the environment's network would keep it alive: it goes too.
    const attached = new Set(containers.map((c) => c.Id));
    for (const n of networks) {
      const info = await this.docker.getNetwork(n.Id).inspect().catch((err) => (isNotFound(err) ? undefined : Promise.reject(err)));
      for (const id of Object.keys(info?.Containers ?? {})) attached.add(id);
    }
    await Promise.all([...attached].map(async (id) => {
      await this.docker.getContainer(id).remove({ force: true, v: true }).then(() => report.containers++, gone);
    }));
    for (const n of networks) {
      for (let attempt = 0; ; attempt++) {
        try {
          await this.docker.getNetwork(n.Id).remove();
          report.networks++;
          break;
        } catch (err) {
          if (isNotFound(err)) break;
          // 403/409 "has active endpoints": a container is still being removed; give it a moment.
          if ((isConflict(err) || dockerStatus(err) === 403) && attempt < 20) { await sleep(250); continue; }
          throw err;
        }
      }
    }
    const { Volumes } = await this.docker.listVolumes({ filters: filter });
    for (const v of Volumes ?? []) {
      if (opts.keepData && isDataVolume(v.Labels)) { report.kept++; continue; }
      for (let attempt = 0; ; attempt++) {
        try {
          await this.docker.getVolume(v.Name).remove();
          report.volumes++;
          break;
        } catch (err) {
          if (isNotFound(err)) break;
          // 409: still in use by a container that is being removed; give it a moment.
          if (isConflict(err) && attempt < 20) { await sleep(250); continue; }
          throw err;
        }
      }
    }
    return report;
  }

  async services(envId: string): Promise<ServiceStatus[]> {
    const list = await this.docker.listContainers({ all: true, filters: { label: [`${LABEL_ENV}=${envId}`, `${LABEL_INSTANCE}=${this.instance}`] } });
    const states = await Promise.all(list.map(async (c): Promise<ServiceStatus | undefined> => {
      const info = await this.docker.getContainer(c.Id).inspect().catch((err) => (isNotFound(err) ? undefined : Promise.reject(err)));
      if (!info) return undefined;
      return {
        service: info.Config.Labels?.[LABEL_COMPOSE_SERVICE] ?? info.Name.replace(/^\//, ''),
        state: info.State.Status,
        running: info.State.Running,
        health: this.probedHealth.of(info),
        image: info.Config.Image,
        imageId: info.Image,
        startedAt: info.State.Running && info.State.StartedAt ? new Date(info.State.StartedAt).toISOString() : null,
      };
    }));
    return states.filter((s): s is ServiceStatus => !!s).sort((a, b) => a.service.localeCompare(b.service));
  }

  async logStream(env: EnvironmentRef, service: string, opts: { tail: number; follow: boolean }): Promise<Readable | undefined> {
    const c = this.docker.getContainer(containerName(env.project, service));
    const info = await c.inspect().catch((err) => (isNotFound(err) ? undefined : Promise.reject(err)));
    if (!info || info.Config.Labels?.[LABEL_ENV] !== env.id) return undefined;
    // A container being removed (teardown, a failed start) has no logs to give: as if it were gone.
    const gone = (err: unknown) => (isNotFound(err) || isConflict(err) ? undefined : Promise.reject(err));
    if (!opts.follow) {
      const buf = (await c.logs({ stdout: true, stderr: true, tail: opts.tail, follow: false }).catch(gone)) as unknown as Buffer | undefined;
      if (buf === undefined) return undefined;
      const text = info.Config.Tty ? String(buf) : demux(Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf)));
      return Readable.from([text]);
    }
    const raw = (await c.logs({ stdout: true, stderr: true, tail: opts.tail, follow: true }).catch(gone)) as unknown as Readable | undefined;
    if (!raw) return undefined;
    const out = new PassThrough();
    if (info.Config.Tty) raw.pipe(out);
    else this.docker.modem.demuxStream(raw, out, out);
    // The container went away (teardown): the log ends. The reader left: stop following.
    raw.on('end', () => out.end());
    raw.on('error', (err) => out.destroy(err));
    out.on('close', () => raw.destroy());
    return out;
  }

  async removeDeadHelpers(graceMs: number): Promise<number> {
    let n = 0;
    for (const label of ['mayfly.helper', 'mayfly.golden-build']) {
      const list = await this.docker.listContainers({ all: true, filters: { label: [label, `${LABEL_INSTANCE}=${this.instance}`], status: ['created', 'exited', 'dead'] } });
      for (const c of list) {
        // A helper is removed by the job that ran it right after it exits; give that job a moment.
        if (Date.now() - c.Created * 1000 < graceMs) continue;
        const info = await this.docker.getContainer(c.Id).inspect().catch(() => undefined);
        const finished = info?.State.FinishedAt && !info.State.FinishedAt.startsWith('0001') ? Date.parse(info.State.FinishedAt) : c.Created * 1000;
        if (info?.State.Running || Date.now() - finished < graceMs) continue;
        await this.docker.getContainer(c.Id).remove({ force: true, v: true }).then(() => n++, (err) => { if (!isNotFound(err)) throw err; });
      }
    }
    // The clone-strategy probe's scratch volumes, when its worker died mid-probe (a probe takes
    // seconds; one still in use answers 409 and stays).
    const { Volumes } = await this.docker.listVolumes({ filters: { label: ['mayfly.probe', `${LABEL_INSTANCE}=${this.instance}`] } });
    for (const v of Volumes ?? []) {
      const created = Date.parse((v as { CreatedAt?: string }).CreatedAt ?? '');
      if (!Number.isNaN(created) && Date.now() - created < graceMs * 4) continue;
      await this.docker.getVolume(v.Name).remove().then(() => n++, (err) => { if (!isNotFound(err) && !isConflict(err)) throw err; });
    }
    return n;
  }

  async listOwned(): Promise<OwnedObjects> {
    const filter = { label: [LABEL_ENV, `${LABEL_INSTANCE}=${this.instance}`] };
    const [containers, networks, volumes] = await Promise.all([
      this.docker.listContainers({ all: true, filters: filter }),
      this.docker.listNetworks({ filters: filter }),
      this.docker.listVolumes({ filters: filter }),
    ]);
    return {
      containers: containers.map((c) => ({
        id: c.Id, envId: c.Labels[LABEL_ENV]!, service: c.Labels[LABEL_COMPOSE_SERVICE], state: c.State,
        exitCode: exitCodeOf(c.Status),
      })),
      networks: networks.map((n) => ({ id: n.Id, envId: n.Labels?.[LABEL_ENV] ?? '' })),
      volumes: (volumes.Volumes ?? []).map((v) => ({ name: v.Name, envId: v.Labels?.[LABEL_ENV] ?? '' })),
    };
  }
}
