import { PassThrough, Readable } from 'node:stream';
import type Docker from 'dockerode';
import { PermanentFailure } from '../../../core/domain/errors.js';
import {
  LABEL_COMPOSE_SERVICE, LABEL_CONFIG_HASH, LABEL_ENV, LABEL_GOLDEN_BUILD, LABEL_HELPER, LABEL_INSTANCE, containerName,
} from '../../../core/domain/names.js';
import type { ServiceStatus } from '../../../core/platform/internal-api.js';
import type { ServiceSpec } from '../../../core/stack/model.js';
import type { EnvironmentRef, Guard, OwnedObjects, ProgressFn, ServiceState, UpTimings } from '../runtime.js';
import { containerSpec, exitCodeOf } from './container-spec.js';
import type { CpuBoost } from './cpu-boost.js';
import { dockerStatus, isConflict, isNotFound } from './errors.js';
import { execInContainer } from './exec.js';
import type { ProbedHealth } from './health.js';
import type { Images } from './images.js';
import { demux } from './streams.js';

type Filters = { label: string[]; status?: string[] };
const noGuard: Guard = async () => undefined;

/** Containers on one Docker Engine: an environment's services (one container each, named as compose names it) and helpers. */
export class Containers {
  constructor(
    private readonly docker: Docker, private readonly instance: string,
    private readonly images: Images, private readonly boost: CpuBoost, private readonly probedHealth: ProbedHealth,
  ) {}

  /** A service's container (it may not exist). */
  of(env: EnvironmentRef, service: string): Docker.Container {
    return this.docker.getContainer(containerName(env.project, service));
  }

  /**
   * Creates the service's container unless one with the same configuration is already running.
   * With `startStopped` (a wake), a stopped container with the same configuration and image is
   * started as it is instead of recreated.
   */
  async ensure(
    env: EnvironmentRef, svc: ServiceSpec, onProgress?: ProgressFn, startStopped = false, guard: Guard = noGuard, timings?: UpTimings,
  ): Promise<Docker.Container> {
    const name = containerName(env.project, svc.name);
    const spec = containerSpec(this.instance, env, svc);
    const existing = this.docker.getContainer(name);
    const info = await existing.inspect().catch((err) => (isNotFound(err) ? undefined : Promise.reject(err)));
    if (info) {
      if (info.Config.Labels?.[LABEL_ENV] !== env.id) throw new PermanentFailure('NAME_CLASH', `a container named ${name} exists that does not belong to this environment`);
      // Same configuration and the same image content (a tag re-pushed with new code is a new image id).
      const imageId = await this.images.id(svc.image);
      const sameImage = imageId === undefined || info.Image === imageId;
      if (info.Config.Labels?.[LABEL_CONFIG_HASH] === spec.Labels![LABEL_CONFIG_HASH] && sameImage && info.State.Running) {
        onProgress?.(`${svc.name}: unchanged, kept running`, { service: svc.name, step: 'started' });
        return existing;
      }
      if (startStopped && info.Config.Labels?.[LABEL_CONFIG_HASH] === spec.Labels![LABEL_CONFIG_HASH] && sameImage) {
        const boost = await this.boost.for(svc);
        await guard(`start ${svc.name} again`);
        if (boost) await existing.update({ NanoCpus: boost });
        const t0 = Date.now();
        await existing.start().catch((err) => (dockerStatus(err) === 304 ? undefined : Promise.reject(err))); // 304: already started
        if (timings) timings.startMs += Date.now() - t0;
        onProgress?.(`${svc.name}: started again`, { service: svc.name });
        return existing;
      }
      await guard(`remove ${svc.name} to recreate it`);
      onProgress?.(`${svc.name}: ${sameImage ? 'configuration changed' : 'new image for its tag'}, recreating`, { service: svc.name });
      await existing.remove({ force: true, v: true }).catch((err) => (isNotFound(err) ? undefined : Promise.reject(err)));
    }
    const boost = await this.boost.for(svc);
    await guard(`create ${svc.name}`);
    const t0 = Date.now();
    const container = await this.docker.createContainer({ ...spec, name, ...(boost ? { HostConfig: { ...spec.HostConfig, NanoCpus: boost } } : {}) });
    const t1 = Date.now();
    await guard(`start ${svc.name}`);
    const t2 = Date.now();
    await container.start();
    if (timings) { timings.createMs += t1 - t0; timings.startMs += Date.now() - t2; }
    onProgress?.(`${svc.name}: started (${svc.image})`, { service: svc.name, step: 'started' });
    return container;
  }

  /** Applies the service's CPU limit (after a boosted start); a no-op when it already holds. */
  async applyCpuLimit(c: Docker.Container, svc: ServiceSpec): Promise<void> {
    if (!svc.limits.nanoCpus) return;
    if ((await c.inspect()).HostConfig.NanoCpus === svc.limits.nanoCpus) return;
    await c.update({ NanoCpus: svc.limits.nanoCpus });
  }

  /** A started service as the port reports it: its health and its host ports on 127.0.0.1. */
  async state(service: string, c: Docker.Container): Promise<ServiceState> {
    const info = await c.inspect();
    const ports: Record<string, number> = {};
    for (const [port, binds] of Object.entries(info.NetworkSettings.Ports ?? {})) {
      const hostPort = binds?.find((b) => b.HostIp === '127.0.0.1' || b.HostIp === '0.0.0.0')?.HostPort ?? binds?.[0]?.HostPort;
      if (hostPort) ports[port] = Number(hostPort);
    }
    return { service, containerId: info.Id, running: info.State.Running, health: this.probedHealth.of(info), ports };
  }

  /** Stops the environment's running containers, each with its own stop_grace_period; returns how many. */
  async stop(envId: string): Promise<number> {
    const containers = await this.docker.listContainers({ filters: { label: [`${LABEL_ENV}=${envId}`], status: ['running', 'restarting'] } });
    let stopped = 0;
    await Promise.all(containers.map(async (c) => {
      await this.docker.getContainer(c.Id).stop().then(() => { stopped++; }, (err) => {
        if (isNotFound(err) || dockerStatus(err) === 304) return; // gone, or already stopped
        throw err;
      });
    }));
    return stopped;
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

  async exec(env: EnvironmentRef, service: string, cmd: string[], input?: Readable): Promise<{ exitCode: number; output: string }> {
    return execInContainer(this.of(env, service), cmd, input);
  }

  async logs(env: EnvironmentRef, service: string, tail: number): Promise<string> {
    const buf = (await this.of(env, service).logs({ stdout: true, stderr: true, tail, follow: false })) as unknown as Buffer;
    return demux(Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf)));
  }

  async logStream(env: EnvironmentRef, service: string, opts: { tail: number; follow: boolean }): Promise<Readable | undefined> {
    const c = this.of(env, service);
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

  list(filters: Filters): Promise<Docker.ContainerInfo[]> {
    return this.docker.listContainers({ all: true, filters });
  }

  /** Every container of this instance that carries a mayfly.env label, as the port reports it. */
  async owned(): Promise<OwnedObjects['containers']> {
    return (await this.list({ label: [LABEL_ENV, `${LABEL_INSTANCE}=${this.instance}`] })).map((c) => ({
      id: c.Id, envId: c.Labels[LABEL_ENV]!, service: c.Labels[LABEL_COMPOSE_SERVICE], state: c.State,
      exitCode: exitCodeOf(c.Status),
    }));
  }

  /** Unpauses this instance's paused containers of an environment; returns their services. */
  async resumePaused(envId: string): Promise<string[]> {
    const paused = await this.list({ label: [`${LABEL_ENV}=${envId}`, `${LABEL_INSTANCE}=${this.instance}`], status: ['paused'] });
    await Promise.all(paused.map((c) => this.docker.getContainer(c.Id).unpause()
      .catch((err) => ((err as { statusCode?: number }).statusCode === 409 || isNotFound(err) ? undefined : Promise.reject(err)))));
    return paused.map((c) => c.Labels[LABEL_COMPOSE_SERVICE] ?? c.Names[0]?.replace(/^\//, '') ?? c.Id);
  }

  /** Force-removes containers (with their anonymous volumes) at once; "not found" is done. Returns how many it removed. */
  async remove(ids: Iterable<string>): Promise<number> {
    let removed = 0;
    await Promise.all([...ids].map(async (id) => {
      await this.docker.getContainer(id).remove({ force: true, v: true }).then(() => removed++, (err) => { if (!isNotFound(err)) throw err; });
    }));
    return removed;
  }

  /** Removes this instance's helper and golden-build containers that stopped (or never started) more than `graceMs` ago. */
  async removeDeadHelpers(graceMs: number): Promise<number> {
    let n = 0;
    for (const label of [LABEL_HELPER, LABEL_GOLDEN_BUILD]) {
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
    return n;
  }
}
