import { setTimeout as sleep } from 'node:timers/promises';
import { PassThrough, Readable } from 'node:stream';
import type Docker from 'dockerode';
import { MayflyError, PermanentFailure } from '../../../core/domain/errors.js';
import {
  LABEL_COMPOSE_NETWORK, LABEL_COMPOSE_SERVICE, LABEL_CONFIG_HASH, LABEL_ENV, LABEL_INSTANCE,
} from '../../../core/domain/names.js';
import type { ServiceSpec, StackSpec } from '../../../core/stack/model.js';
import { registryOf } from '../../../core/stack/policy.js';
import type { RegistryCredentials } from '../../../core/config/registry.js';
import type { ServiceStatus } from '../../../core/platform/internal-api.js';
import { isDataVolume, type EnvironmentRef, type Guard, type OwnedObjects, type ProgressFn, type PulledImage, type RemovalReport, type Runtime, type ServiceState, type StrandedVolume, type UpOptions } from '../runtime.js';
import { dockerMessage, dockerStatus, isConflict, isNotFound } from '../docker/errors.js';
import { execInContainer } from '../docker/exec.js';
import { demux } from '../docker/streams.js';
import { listTasks, newestFirst, type SwarmCluster, type SwarmTask } from './cluster.js';
import { ClonePlacements, schedulable } from './placement.js';
import { envLabels, MISSING_CLONE_DEVICE, swarmNetworkName, swarmServiceName, swarmServiceSpec, swarmVolumeName } from './service-spec.js';

interface SpecShape { TaskTemplate?: { Placement?: { Constraints?: string[] }; ContainerSpec?: { Mounts?: { Type?: string; Source?: string }[] } } }

/** Task states between "a node took it" and "running": the swarm is starting the service there. */
const MOVING_TASK_STATES = new Set(['allocated', 'assigned', 'accepted', 'preparing', 'ready', 'starting']);
/** The node id a service is pinned to by `node.id==...`, if any. */
export function pinnedNodeOf(spec: unknown): string | undefined {
  return (spec as SpecShape | undefined)?.TaskTemplate?.Placement?.Constraints?.map((c) => /^node\.id\s*==\s*(\S+)$/.exec(c)?.[1]).find(Boolean);
}

/** The names of the volumes a service mounts. */
function volumeSourcesOf(spec: unknown): string[] {
  return ((spec as SpecShape | undefined)?.TaskTemplate?.ContainerSpec?.Mounts ?? []).filter((m) => m.Type === 'volume' && m.Source).map((m) => m.Source!);
}

/** Thrown when a wait is cut short because the environment was destroyed meanwhile. */
export class Aborted extends MayflyError {
  constructor() {
    super('ABORTED', 409, 'aborted: the environment is going away');
  }
}

type Condition = 'service_started' | 'service_healthy' | 'service_completed_successfully' | 'ready';

export interface SwarmRuntimeOptions {
  /** How long a task may stay pending because no node can take it before the environment fails. */
  pendingGraceMs: number;
}


/**
 * The Runtime port on Docker Swarm (docs/swarm.md): one attachable overlay network per
 * environment; one service per compose service (replicated 1, dnsrr, its name as alias), created
 * in depends_on order with Mayfly waiting for each condition (swarm ignores depends_on); a
 * dependency that must complete runs as a ReplicatedJob. Memory is reserved as much as it is
 * limited, so the swarm refuses to overcommit a node (the task stays pending: reported, not
 * waited on forever). Published ports are host-mode (no IPVS here, so no ingress): an endpoint is
 * `node address:published port`. A service whose data volume already lives on a node (a seed
 * clone) is pinned to that node by id. Exec goes to the node's own Engine API; logs through the
 * manager; removal reaps containers and volumes on every node.
 */
export class SwarmRuntime implements Runtime {
  private readonly digests = new Map<string, string>();
  private apiVersion?: Promise<string>;

  constructor(
    private readonly cluster: SwarmCluster, private readonly instance: string, private readonly credentials?: RegistryCredentials,
    private readonly placements: ClonePlacements = new ClonePlacements(),
    private readonly options: SwarmRuntimeOptions = { pendingGraceMs: 5000 },
  ) {}

  private get manager(): Docker {
    return this.cluster.manager;
  }

  /** Engines before API 1.44 ignore healthcheck start_interval. */
  private async noStartInterval(): Promise<boolean> {
    this.apiVersion ??= this.manager.version().then((v) => v.ApiVersion, (err) => { this.apiVersion = undefined; throw err; });
    const [major, minor] = (await this.apiVersion).split('.').map(Number);
    return (major ?? 1) === 1 && (minor ?? 0) < 44;
  }

  /**
   * Resolves the image's digest through the manager (its /distribution endpoint asks the
   * registry), so that every node runs the same content: each node pulls it when a task lands
   * there. Nothing is pulled here.
   */
  async pull(image: string, onProgress?: ProgressFn): Promise<PulledImage> {
    const registry = registryOf(image);
    const auth = registry ? this.credentials?.authFor(registry) : undefined;
    let digest: string;
    try {
      const info = await (this.manager.getImage(image) as unknown as { distribution(o?: object): Promise<{ Descriptor: { digest: string } }> })
        .distribution(auth ? { authconfig: auth } : {});
      digest = info.Descriptor.digest;
    } catch (err) {
      const status = dockerStatus(err);
      if (status === 404) throw new PermanentFailure('IMAGE_NOT_FOUND', `image ${image} does not exist in its registry (${dockerMessage(err)})`, { cause: err });
      if (status === 401 || status === 403) throw new PermanentFailure('IMAGE_UNAUTHORIZED', `the registry refused ${image}: ${dockerMessage(err)}`, { cause: err });
      if (status === 400) throw new PermanentFailure('INVALID_IMAGE_REF', `the swarm manager refused ${image} as an image reference: ${dockerMessage(err)}`, { cause: err });
      throw new MayflyError('IMAGE_PULL_FAILED', 502, `resolving ${image} through the swarm manager failed (is its registry reachable from the nodes?): ${dockerMessage(err)}`, { cause: err });
    }
    const repository = image.replace(/@.*$/, '').replace(/:[^:/]+$/, '');
    const pinned = `${repository}@${digest}`;
    this.digests.set(image, pinned);
    onProgress?.(`${image}: resolved to ${digest}; each node pulls it when a task lands there`, { step: 'resolved', image, digest });
    return { image, digest: pinned };
  }

  prepareNetwork(env: EnvironmentRef): Promise<void> {
    return this.ensureNetwork(env).then(() => undefined);
  }

  private async ensureNetwork(env: EnvironmentRef): Promise<string> {
    const name = swarmNetworkName(env.project);
    const existing = (await this.manager.listNetworks({ filters: { name: [name] } })).find((n) => n.Name === name);
    if (existing) {
      if (existing.Labels?.[LABEL_ENV] !== env.id) throw new PermanentFailure('NAME_CLASH', `a network named ${name} exists that does not belong to this environment`);
      return existing.Id;
    }
    try {
      const net = await this.manager.createNetwork({
        Name: name, Driver: 'overlay', Attachable: true, CheckDuplicate: true,
        Labels: { ...envLabels(this.instance, env), [LABEL_COMPOSE_NETWORK]: 'default' },
      });
      return net.id;
    } catch (err) {
      if (/available, non-overlapping IPv4 address pool|could not find an available/i.test(dockerMessage(err))) {
        throw new PermanentFailure('NETWORK_POOLS_EXHAUSTED', `the swarm has no overlay address range left for this environment's network: ${dockerMessage(err)}. `
          + 'Destroy environments, or init the swarm with a larger --default-addr-pool (docs/swarm.md)', { cause: err });
      }
      if (!isConflict(err)) throw err;
      return this.ensureNetwork(env);
    }
  }

  /**
   * Where each of the environment's volumes lives now (volume name -> node id), from every node's
   * own list. A volume on two nodes is an error: the data would depend on where the task lands.
   */
  private async volumeNodes(env: EnvironmentRef): Promise<Map<string, string>> {
    const where = new Map<string, string>();
    const found = await Promise.all((await this.cluster.reachableApis()).map(async ({ host, docker }) => {
      const { Volumes } = await docker.listVolumes({ filters: { label: [`${LABEL_ENV}=${env.id}`] } });
      return { id: await this.cluster.idOf(host), names: (Volumes ?? []).map((v) => v.Name) };
    }));
    for (const { id, names } of found) {
      for (const name of names) {
        const other = where.get(name);
        if (other && other !== id) {
          throw new PermanentFailure('VOLUME_ON_SEVERAL_NODES', `volume ${name} of environment ${env.id} exists on nodes ${other} and ${id}: `
            + 'its data would depend on where the task lands. Remove the wrong one (docker volume rm on that node) or reset the database');
        }
        where.set(name, id);
      }
    }
    return where;
  }

  /** Which node a service must run on (its data volume's), and which of its volumes must already exist there. */
  private async pinFor(env: EnvironmentRef, svc: ServiceSpec, where: Map<string, string>): Promise<{ node?: string; mustExist: Set<string> }> {
    const mustExist = new Set<string>();
    let node: string | undefined;
    for (const v of svc.volumes) {
      const name = swarmVolumeName(env.project, v.source);
      const recorded = this.placements.nodeOf(name);
      const found = where.get(name);
      if (recorded && found !== recorded) {
        throw new PermanentFailure('CLONE_MISSING', `the seed clone ${name} of environment ${env.id} was made on node ${recorded} but is not there `
          + `(${found ? `it is on ${found}` : 'no node has it'}); the database would start empty. Reset the database to clone it again`);
      }
      if (!found) continue;
      if (node && node !== found) {
        throw new PermanentFailure('VOLUMES_SPLIT', `service ${svc.name} of environment ${env.id} mounts volumes that live on different nodes (${node}, ${found})`);
      }
      node = found;
      mustExist.add(v.source);
    }
    return { ...(node ? { node } : {}), mustExist };
  }

  private async findService(name: string): Promise<Docker.Service | undefined> {
    const svc = this.manager.getService(name);
    const info = await svc.inspect().catch((err) => (isNotFound(err) ? undefined : Promise.reject(err)));
    return info ? svc : undefined;
  }

  /**
   * Creates, recreates or keeps one service; resolves true when it got a new task (so services
   * that depend on it get one too). `renewed`: the services that got a new task in this run.
   */
  private async ensureService(env: EnvironmentRef, svc: ServiceSpec, spec: Docker.CreateServiceOptions, onProgress: ProgressFn | undefined, guard: Guard,
    renewed: ReadonlySet<string> = new Set(), superseded: Map<string, Set<string>> = new Map()): Promise<boolean> {
    const name = spec.Name!;
    const existing = await this.findService(name);
    if (existing) {
      const info = await existing.inspect() as Docker.Service & { Spec: Docker.ServiceSpec; Version: { Index: number } };
      if (info.Spec.Labels?.[LABEL_ENV] !== env.id) throw new PermanentFailure('NAME_CLASH', `a swarm service named ${name} exists that does not belong to this environment`);
      if (info.Spec.Labels?.[LABEL_CONFIG_HASH] === spec.Labels![LABEL_CONFIG_HASH]) {
        const replicas = info.Spec.Mode?.Replicated?.Replicas;
        // The tasks it has now are the past once it is started again: a wait must not take the
        // old one, still running for a moment after the update, for the new one.
        const past = async () => superseded.set(svc.name, new Set((await listTasks(this.manager, { service: [name] })).map((t) => t.ID)));
        if (replicas === 0) {
          await guard(`scale ${svc.name} up again`);
          await past();
          await existing.update({ ...info.Spec, version: info.Version.Index, Mode: { Replicated: { Replicas: 1 } } });
          onProgress?.(`${svc.name}: started again`, { service: svc.name, step: 'started' });
          return true;
        } else {
          // Its task ended and the swarm will not start another (restart "no", the compose
          // default): e.g. the web quit while its database healed elsewhere. As a stopped
          // container is started again on one host, the service gets a fresh task.
          // A service whose dependency got a new task (a database healed on another node, or
          // reset) gets one too, as compose's `depends_on: restart` does: its connections to the
          // old task are gone, and it may quit on them after it was seen healthy.
          const state = (await this.currentTask(name))?.Status?.State;
          const ended = !!info.Spec.Mode?.Replicated && !!state && ['complete', 'failed', 'rejected', 'shutdown', 'orphaned'].includes(state);
          const replaced = svc.dependsOn.map((d) => d.service).filter((d) => renewed.has(d));
          if (ended || replaced.length) {
            await guard(`start ${svc.name} again`);
            await past();
            const template = info.Spec.TaskTemplate as { ForceUpdate?: number };
            await existing.update({ ...info.Spec, version: info.Version.Index, TaskTemplate: { ...info.Spec.TaskTemplate, ForceUpdate: (template.ForceUpdate ?? 0) + 1 } });
            onProgress?.(ended ? `${svc.name}: its task had ${state}; started again` : `${svc.name}: started again, as ${replaced.join(', ')} was replaced`, { service: svc.name, step: 'started' });
            return true;
          }
          onProgress?.(`${svc.name}: unchanged, kept`, { service: svc.name, step: 'started' });
        }
        return false;
      }
      await guard(`remove ${svc.name} to recreate it`);
      onProgress?.(`${svc.name}: configuration changed, recreating`, { service: svc.name });
      await this.removeServiceAndContainers(env, svc.name);
    }
    await guard(`create ${svc.name}`);
    await this.manager.createService(spec);
    onProgress?.(`${svc.name}: service created (${svc.image})`, { service: svc.name, step: 'started' });
    return true;
  }

  /** Removes one service and its containers on every node (a completed job's container outlives `service rm`). */
  async removeServiceAndContainers(env: EnvironmentRef, service: string): Promise<void> {
    await this.manager.getService(swarmServiceName(env.project, service)).remove().catch((err) => (isNotFound(err) ? undefined : Promise.reject(err)));
    await Promise.all((await this.cluster.reachableApis()).map(async ({ docker }) => {
      const list = await docker.listContainers({ all: true, filters: { label: [`${LABEL_ENV}=${env.id}`, `${LABEL_COMPOSE_SERVICE}=${service}`] } });
      await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch((err) => (isNotFound(err) || isConflict(err) ? undefined : Promise.reject(err)))));
    }));
  }

  async up(env: EnvironmentRef, stack: StackSpec, opts: UpOptions): Promise<ServiceState[]> {
    const guard: Guard = opts.guard ?? (async () => undefined);
    await guard('create the network');
    const network = await this.ensureNetwork(env);
    const noStartInterval = await this.noStartInterval();
    const where = await this.volumeNodes(env);
    const deadline = Date.now() + opts.healthTimeoutMs;
    const jobs = new Set(stack.services.flatMap((s) => s.dependsOn.filter((d) => d.condition === 'service_completed_successfully').map((d) => d.service)));
    const met = new Map<string, Set<Condition>>();
    /** Services that got a new task in this run (created, recreated or started again). */
    const renewed = new Set<string>();
    /** Per service started again in this run, the tasks it had before (never the one waited for). */
    const superseded = new Map<string, Set<string>>();
    for (const svc of stack.services) {
      for (const dep of svc.dependsOn) {
        if (met.get(dep.service)?.has(dep.condition)) continue;
        const dependency = stack.services.find((s) => s.name === dep.service);
        if (dep.condition === 'service_healthy' && !dependency?.healthcheck) {
          throw new PermanentFailure('NO_HEALTHCHECK', `a service depends on ${dep.service} being healthy, but ${dep.service} has no healthcheck (add one to the template)`);
        }
        await this.waitFor(env, dep.service, dep.condition, deadline, opts, superseded.get(dep.service));
        if (!met.has(dep.service)) met.set(dep.service, new Set());
        met.get(dep.service)!.add(dep.condition);
      }
      const pin = await this.pinFor(env, svc, where);
      const image = this.digests.get(svc.image) ?? (await this.pull(svc.image)).digest;
      const spec = swarmServiceSpec(this.instance, env, svc, { network, image, ...(pin.node ? { pinnedNode: pin.node } : {}), mustExist: pin.mustExist, job: jobs.has(svc.name), noStartInterval });
      if (await this.ensureService(env, svc, spec, opts.onProgress, guard, renewed, superseded)) renewed.add(svc.name);
    }
    const states: ServiceState[] = [];
    for (const svc of stack.services) {
      const task = await this.waitFor(env, svc.name, jobs.has(svc.name) ? 'service_completed_successfully' : 'ready', deadline, opts, superseded.get(svc.name));
      if (jobs.has(svc.name)) continue;
      states.push(await this.stateOf(svc.name, task, !!svc.healthcheck));
    }
    return states;
  }

  async start(env: EnvironmentRef, stack: StackSpec, opts: UpOptions): Promise<ServiceState[]> {
    return this.up(env, stack, opts);
  }

  /** Sleep: every replicated service of the environment scaled to 0; its volumes stay on their nodes. */
  async stop(envId: string): Promise<number> {
    let stopped = 0;
    for (const s of await this.manager.listServices({ filters: { label: [`${LABEL_ENV}=${envId}`] } })) {
      const svc = this.manager.getService(s.ID);
      const info = await svc.inspect() as { Spec: Docker.ServiceSpec; Version: { Index: number } };
      if (!info.Spec.Mode?.Replicated || info.Spec.Mode.Replicated.Replicas === 0) continue;
      await svc.update({ ...info.Spec, version: info.Version.Index, Mode: { Replicated: { Replicas: 0 } } });
      stopped++;
    }
    return stopped;
  }

  private async stateOf(service: string, task: SwarmTask, hasHealth: boolean): Promise<ServiceState> {
    const node = await this.cluster.node(task.NodeID!);
    const ports: Record<string, number> = {};
    for (const p of task.Status?.PortStatus?.Ports ?? []) {
      if (p.TargetPort && p.PublishedPort) ports[`${p.TargetPort}/${p.Protocol ?? 'tcp'}`] = p.PublishedPort;
    }
    return {
      service, containerId: task.Status?.ContainerStatus?.ContainerID ?? '', running: task.Status?.State === 'running',
      // A swarm task with a healthcheck is `running` only once Docker says healthy.
      health: hasHealth ? 'healthy' : 'none', ports, host: node.addr, node: node.hostname,
    };
  }

  /**
   * The task that stands for a service now: the newest one the swarm still wants (desired state
   * running, or complete for a job), else the newest of all. A task the swarm shut down (a drained
   * node) is replaced by a new one a moment later; a failed or rejected one is the answer itself.
   */
  private async currentTask(serviceName: string): Promise<SwarmTask | undefined> {
    const tasks = (await listTasks(this.manager, { service: [serviceName] })).sort(newestFirst);
    const newest = tasks[0];
    if (newest && ['failed', 'rejected'].includes(newest.Status?.State ?? '')) return newest;
    return tasks.find((t) => t.DesiredState !== 'shutdown' && t.DesiredState !== 'remove') ?? newest;
  }

  /**
   * Waits until a service's newest task meets a condition. `running` means started and, for a
   * service with a healthcheck, healthy (swarm holds a task in `starting` until then, and its
   * DNS name resolves only from then on). A task that fails, is rejected, or stays pending
   * because no node can take it fails the environment with the reason and the service's logs.
   */
  private async waitFor(env: EnvironmentRef, service: string, condition: Condition, deadline: number, opts: { onProgress?: ProgressFn; signal?: AbortSignal },
    superseded: ReadonlySet<string> = new Set()): Promise<SwarmTask> {
    const name = swarmServiceName(env.project, service);
    let announced = false;
    let pendingSince: number | undefined;
    let goneSince: number | undefined;
    // Tasks that had already ended before this wait (a kept service whose dependency was away,
    // e.g. while its database healed on another node; ensureService started it again): history.
    // Only a failure from now on fails the environment.
    const stale = condition === 'service_completed_successfully' ? new Set<string>()
      : new Set((await listTasks(this.manager, { service: [name] })).filter((t) => superseded.has(t.ID) || ['failed', 'rejected', 'complete'].includes(t.Status?.State ?? '')).map((t) => t.ID));
    const restartsAlways = condition !== 'service_completed_successfully' && await this.restartsAlways(name);
    for (;;) {
      if (opts.signal?.aborted) throw new Aborted();
      const task = await this.currentTask(name);
      const state = task?.Status?.State;
      const err = task?.Status?.Err ?? '';
      // A replicated service that restarts on any exit: an exit 0 (its database went away
      // meanwhile, and it quit) is followed by a new task, not the end.
      if (task && (stale.has(task.ID) || (state === 'complete' && restartsAlways))) {
        if (!announced) {
          opts.onProgress?.(superseded.has(task.ID) ? `${service}: waiting for its new task (the old one is being replaced)`
            : `${service}: waiting for the swarm to start it again (its last task ${state}: ${err || 'no reason given'})`, { service });
          announced = true;
        }
        if (Date.now() > deadline) {
          throw await this.serviceFailure(env, service, 'HEALTH_TIMEOUT', `${service} was not started again in time (MAYFLY_HEALTH_TIMEOUT); its last task ${state}${err ? `: ${err}` : ''}`);
        }
        await sleep(200);
        continue;
      }
      if (state === 'complete') {
        if (condition === 'service_completed_successfully') return task!;
        if (condition !== 'service_started') {
          // Exit 0 while it should run: it quit on its own, or it was stopped (a server answers
          // SIGTERM by exiting 0; the swarm stops a task it finds unhealthy): its task's words, if any.
          const said = [task?.Status?.Message, err].filter((x) => x && x !== 'finished').join(': ');
          throw await this.serviceFailure(env, service, 'SERVICE_EXITED', `${service} exited with code 0 on node ${await this.hostOf(task)}${said ? ` (the swarm says: ${said})` : ''}`);
        }
      }
      if (state === 'running') {
        if (condition !== 'service_completed_successfully') {
          if (announced) opts.onProgress?.(`${service}: ${condition === 'service_started' ? 'started' : 'healthy'} on ${await this.hostOf(task)}`, { service });
          return task!;
        }
      }
      if (state === 'starting' && condition === 'service_started') return task!;
      // Shut down with nothing to replace it yet: the swarm usually schedules a new task at once.
      const gone = state && ['shutdown', 'orphaned', 'remove'].includes(state);
      if (gone) goneSince ??= Date.now(); else goneSince = undefined;
      if (gone && Date.now() - goneSince! >= this.options.pendingGraceMs) {
        const pinnedTo = await this.unschedulablePin(name);
        if (pinnedTo) throw this.noSuitableNode(env, service, `it is pinned to node ${pinnedTo.host} (which holds its data), and that node takes no tasks (${pinnedTo.why})`, task);
      }
      if (state && (['failed', 'rejected'].includes(state) || (gone && Date.now() - goneSince! >= this.options.pendingGraceMs))) {
        if (err.includes(MISSING_CLONE_DEVICE)) {
          throw new PermanentFailure('CLONE_MISSING', `${service} of environment ${env.id} was placed on node ${await this.hostOf(task)}, which does not hold its seed clone; `
            + 'it was refused rather than started on an empty volume. Reset the database to clone it again');
        }
        const code = /unhealthy/i.test(err) ? 'SERVICE_UNHEALTHY' : 'SERVICE_EXITED';
        const exit = task?.Status?.ContainerStatus?.ExitCode;
        throw await this.serviceFailure(env, service, code, `${service} ${state} on node ${await this.hostOf(task)}: ${err || task?.Status?.Message || 'no reason given'}${exit !== undefined ? ` (exit code ${exit})` : ''}`);
      }
      if (state === 'pending' && /no suitable node|insufficient resources/i.test(err)) {
        pendingSince ??= Date.now();
        if (Date.now() - pendingSince >= this.options.pendingGraceMs) {
          const pinnedTo = await this.unschedulablePin(name);
          throw this.noSuitableNode(env, service, pinnedTo ? `it is pinned to node ${pinnedTo.host} (which holds its data), and that node takes no tasks (${pinnedTo.why}; ${err})` : err, task);
        }
      } else pendingSince = undefined;
      if (!announced) { opts.onProgress?.(`${service}: waiting for ${condition === 'ready' ? 'it to be ready' : condition}`, { service }); announced = true; }
      if (Date.now() > deadline) {
        throw await this.serviceFailure(env, service, 'HEALTH_TIMEOUT', `${service} was not ${condition === 'service_completed_successfully' ? 'complete' : 'healthy'} in time (MAYFLY_HEALTH_TIMEOUT); its task is ${state ?? 'not created'}${err ? `: ${err}` : ''}`);
      }
      await sleep(200);
    }
  }

  private noSuitableNode(env: EnvironmentRef, service: string, why: string, task: SwarmTask | undefined): PermanentFailure {
    return new PermanentFailure('NO_SUITABLE_NODE', `no swarm node can run ${service} of environment ${env.id}: ${why}. `
      + 'Bring that node back (docker node update --availability active), reset the database (a fresh clone on another node), or free capacity',
    { details: { service, task: task?.ID } });
  }

  /** Whether the swarm starts a new task whenever one of the service's tasks ends (restart policy any). */
  private async restartsAlways(serviceName: string): Promise<boolean> {
    const info = await this.manager.getService(serviceName).inspect().catch(() => undefined) as { Spec?: { Mode?: { Replicated?: unknown }; TaskTemplate?: { RestartPolicy?: { Condition?: string } } } } | undefined;
    return !!info?.Spec?.Mode?.Replicated && (info.Spec.TaskTemplate?.RestartPolicy?.Condition ?? 'any') === 'any';
  }

  /** The hostname and state of the node a service is pinned to (node.id==...), when that node takes no new tasks. */
  private async unschedulablePin(serviceName: string): Promise<{ host: string; why: string } | undefined> {
    const info = await this.manager.getService(serviceName).inspect().catch(() => undefined) as { Spec?: Docker.ServiceSpec } | undefined;
    const pin = pinnedNodeOf(info?.Spec);
    if (!pin) return undefined;
    const node = (await this.cluster.nodes(true)).find((n) => n.id === pin);
    if (!node) return { host: pin, why: 'no longer in the swarm' };
    return schedulable(node) ? undefined : { host: node.hostname, why: `${node.state}, ${node.availability}` };
  }

  private async hostOf(task: SwarmTask | undefined): Promise<string> {
    if (!task?.NodeID) return '(none)';
    return this.cluster.node(task.NodeID).then((n) => n.hostname, () => task.NodeID!);
  }

  private async serviceFailure(env: EnvironmentRef, service: string, code: string, message: string): Promise<PermanentFailure> {
    const logs = await this.logs(env, service, 20).catch(() => '');
    return new PermanentFailure(code, message, { details: { service, logs } });
  }

  /** The running container of a service and its node's Engine API (a manager cannot exec into another node's container). */
  private async containerOf(env: EnvironmentRef, service: string): Promise<{ container: Docker.Container; node: string } | undefined> {
    const tasks = (await listTasks(this.manager, { service: [swarmServiceName(env.project, service)], 'desired-state': ['running'] })).sort(newestFirst);
    const task = tasks.find((t) => t.Status?.ContainerStatus?.ContainerID && t.NodeID);
    if (!task) return undefined;
    const api = await this.cluster.api(task.NodeID!);
    return { container: api.getContainer(task.Status!.ContainerStatus!.ContainerID!), node: task.NodeID! };
  }

  async exec(env: EnvironmentRef, service: string, cmd: string[], input?: Readable): Promise<{ exitCode: number; output: string }> {
    const found = await this.containerOf(env, service);
    if (!found) throw new PermanentFailure('SERVICE_NOT_RUNNING', `${service} of environment ${env.id} has no running task to run a command in`);
    return execInContainer(found.container, cmd, input);
  }

  async logs(env: EnvironmentRef, service: string, tail: number): Promise<string> {
    const buf = await this.manager.getService(swarmServiceName(env.project, service)).logs({ stdout: true, stderr: true, tail, follow: false }) as unknown as Buffer;
    return demux(Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf)));
  }

  async logStream(env: EnvironmentRef, service: string, opts: { tail: number; follow: boolean }): Promise<Readable | undefined> {
    const svc = this.manager.getService(swarmServiceName(env.project, service));
    const info = await svc.inspect().catch((err) => (isNotFound(err) ? undefined : Promise.reject(err))) as { Spec?: Docker.ServiceSpec } | undefined;
    if (!info || info.Spec?.Labels?.[LABEL_ENV] !== env.id) return undefined;
    const gone = (err: unknown) => (isNotFound(err) || isConflict(err) ? undefined : Promise.reject(err));
    if (!opts.follow) {
      const buf = await svc.logs({ stdout: true, stderr: true, tail: opts.tail, follow: false }).catch(gone) as unknown as Buffer | undefined;
      if (buf === undefined) return undefined;
      return Readable.from([demux(Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf)))]);
    }
    const raw = await svc.logs({ stdout: true, stderr: true, tail: opts.tail, follow: true }).catch(gone) as unknown as Readable | undefined;
    if (!raw) return undefined;
    const out = new PassThrough();
    this.manager.modem.demuxStream(raw, out, out);
    raw.on('end', () => out.end());
    raw.on('error', (err) => out.destroy(err));
    out.on('close', () => raw.destroy());
    return out;
  }

  async services(envId: string): Promise<ServiceStatus[]> {
    const list = await this.manager.listServices({ filters: { label: [`${LABEL_ENV}=${envId}`, `${LABEL_INSTANCE}=${this.instance}`] } });
    const states = await Promise.all(list.map(async (s): Promise<ServiceStatus> => {
      const service = s.Spec?.Labels?.[LABEL_COMPOSE_SERVICE] ?? s.Spec?.Name ?? s.ID;
      const task = await this.currentTask(s.Spec!.Name!);
      const state = task?.Status?.State ?? 'created';
      // The Engine API answers `Healthcheck` (it reads either spelling on create).
      const spec = (s.Spec?.TaskTemplate as { ContainerSpec?: { Healthcheck?: { Test?: string[] }; HealthCheck?: { Test?: string[] } } } | undefined)?.ContainerSpec;
      const check = spec?.Healthcheck ?? spec?.HealthCheck;
      const hasHealth = !!check && check.Test?.[0] !== 'NONE';
      const image = (s.Spec?.TaskTemplate as { ContainerSpec?: { Image?: string } })?.ContainerSpec?.Image ?? '';
      return {
        service, state, running: state === 'running',
        health: state === 'running' ? (hasHealth ? 'healthy' : 'none') : state === 'starting' && hasHealth ? 'starting' : hasHealth && state === 'failed' ? 'unhealthy' : 'none',
        image, imageId: image.includes('@') ? image.slice(image.indexOf('@') + 1) : '',
        startedAt: state === 'running' && task?.Status?.Timestamp ? new Date(task.Status.Timestamp).toISOString() : null,
      };
    }));
    return states.sort((a, b) => a.service.localeCompare(b.service));
  }

  /** Where each running service of the environment answers now: its current task's node and ports. */
  async whereServicesRun(envId: string): Promise<ServiceState[]> {
    const list = await this.manager.listServices({ filters: { label: [`${LABEL_ENV}=${envId}`, `${LABEL_INSTANCE}=${this.instance}`] } });
    const states = await Promise.all(list.map(async (s) => {
      if (!s.Spec?.Mode?.Replicated) return undefined; // a job (migrations) publishes nothing
      const task = await this.currentTask(s.Spec.Name!);
      if (!task?.NodeID || task.Status?.State !== 'running') return undefined;
      const service = s.Spec.Labels?.[LABEL_COMPOSE_SERVICE] ?? s.Spec.Name!;
      return this.stateOf(service, task, false);
    }));
    return states.filter((s): s is ServiceState => !!s);
  }

  /**
   * This instance's services whose newest wanted task is on its way to running (env/service ->
   * task id): assigned to a node and starting, or pending for less than the pending grace.
   */
  private async movingServices(): Promise<Map<string, string>> {
    const moving = new Map<string, string>();
    for (const t of await listTasks(this.manager, { 'desired-state': ['running'] })) {
      const labels = t.Spec?.ContainerSpec?.Labels ?? {};
      if (labels[LABEL_INSTANCE] !== this.instance || !labels[LABEL_ENV] || !labels[LABEL_COMPOSE_SERVICE]) continue;
      const state = t.Status?.State ?? '';
      const age = Date.now() - new Date(t.CreatedAt ?? 0).getTime();
      if (MOVING_TASK_STATES.has(state) || ((state === 'pending' || state === 'new') && age < this.options.pendingGraceMs)) {
        moving.set(`${labels[LABEL_ENV]}/${labels[LABEL_COMPOSE_SERVICE]}`, t.ID);
      }
    }
    return moving;
  }

  /**
   * Services and the network through the manager; then, on every node, the environment's
   * containers (a completed job's stay after `service rm`, moby#44312; removing them by force at
   * once frees their volumes) and its volumes.
   */
  async remove(envId: string, opts: { keepData?: boolean } = {}): Promise<RemovalReport> {
    const filter = { label: [`${LABEL_ENV}=${envId}`] };
    const report: RemovalReport = { containers: 0, networks: 0, volumes: 0, kept: 0 };
    const services = await this.manager.listServices({ filters: filter });
    await Promise.all(services.map((s) => this.manager.getService(s.ID).remove().catch((err) => (isNotFound(err) ? undefined : Promise.reject(err)))));
    const apis = await this.cluster.reachableApis();
    const reap = async () => {
      let removed = 0;
      await Promise.all(apis.map(async ({ docker }) => {
        const containers = await docker.listContainers({ all: true, filters: filter });
        await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true })
          .then(() => { removed++; }, (err) => (isNotFound(err) || isConflict(err) ? undefined : Promise.reject(err)))));
      }));
      report.containers += removed;
      return removed;
    };
    await reap();
    // A node's agent may still start a task the orchestrator assigned just before the service went
    // (a restart): reap again until two passes in a row find nothing on any node.
    for (let quiet = 0, pass = 0; quiet < 2 && pass < 40; pass++) {
      await sleep(300);
      quiet = (await reap()) === 0 ? quiet + 1 : 0;
    }
    const networks = await this.manager.listNetworks({ filters: filter });
    for (const n of networks) {
      for (let attempt = 0; ; attempt++) {
        try {
          await this.manager.getNetwork(n.Id).remove();
          report.networks++;
          break;
        } catch (err) {
          if (isNotFound(err)) break;
          // "has active endpoints" while a node still detaches a task: give it a moment.
          if ((isConflict(err) || dockerStatus(err) === 403 || dockerStatus(err) === 500) && attempt < 40) { await sleep(250); continue; }
          throw err;
        }
      }
    }
    // The manager answers a network removal before its allocator let go of it: the environment is
    // gone only once the manager no longer lists it.
    for (let attempt = 0; networks.length && attempt < 100; attempt++) {
      const left = await this.manager.listNetworks({ filters: filter });
      if (left.length === 0) break;
      await sleep(100);
    }
    await Promise.all(apis.map(async ({ docker }) => {
      const { Volumes } = await docker.listVolumes({ filters: filter });
      for (const v of Volumes ?? []) {
        if (opts.keepData && isDataVolume(v.Labels)) { report.kept++; continue; }
        for (let attempt = 0; ; attempt++) {
          try {
            await docker.getVolume(v.Name).remove();
            report.volumes++;
            break;
          } catch (err) {
            if (isNotFound(err)) break;
            // 409: a container of a task the node is still shutting down uses it.
            if (isConflict(err) && attempt < 40) {
              for (const c of await docker.listContainers({ all: true, filters: { volume: [v.Name] } })) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
              await sleep(250);
              continue;
            }
            throw err;
          }
        }
      }
    }));
    if (!opts.keepData) this.placements.forget(envId);
    return report;
  }

  async removeDeadHelpers(graceMs: number): Promise<number> {
    let n = 0;
    await Promise.all((await this.cluster.reachableApis()).map(async ({ docker }) => {
      for (const label of ['mayfly.helper', 'mayfly.golden-build']) {
        const list = await docker.listContainers({ all: true, filters: { label: [label, `${LABEL_INSTANCE}=${this.instance}`], status: ['created', 'exited', 'dead'] } });
        for (const c of list) {
          if (Date.now() - c.Created * 1000 < graceMs) continue;
          await docker.getContainer(c.Id).remove({ force: true, v: true }).then(() => n++, (err) => { if (!isNotFound(err)) throw err; });
        }
      }
      const { Volumes } = await docker.listVolumes({ filters: { label: ['mayfly.probe', `${LABEL_INSTANCE}=${this.instance}`] } });
      for (const v of Volumes ?? []) {
        const created = Date.parse((v as { CreatedAt?: string }).CreatedAt ?? '');
        if (!Number.isNaN(created) && Date.now() - created < graceMs * 4) continue;
        await docker.getVolume(v.Name).remove().then(() => n++, (err) => { if (!isNotFound(err) && !isConflict(err)) throw err; });
      }
    }));
    return n;
  }

  /**
   * The environment's data volumes whose service is pinned (by node id) to a node that takes no
   * tasks: drained, down, or gone. Asked of the manager only (a lost node does not answer).
   */
  async strandedData(envId: string): Promise<StrandedVolume[]> {
    const services = await this.manager.listServices({ filters: { label: [`${LABEL_ENV}=${envId}`, `${LABEL_INSTANCE}=${this.instance}`] } });
    const nodes = await this.cluster.nodes(true);
    const out: StrandedVolume[] = [];
    for (const s of services) {
      const pin = pinnedNodeOf(s.Spec);
      if (!pin) continue;
      const node = nodes.find((n) => n.id === pin);
      if (node && schedulable(node)) continue;
      const why = node ? `${node.state}, ${node.availability}` : 'no longer in the swarm';
      const service = s.Spec?.Labels?.[LABEL_COMPOSE_SERVICE] ?? s.Spec?.Name ?? s.ID;
      for (const volume of volumeSourcesOf(s.Spec)) out.push({ service, volume, node: node?.hostname ?? pin, why });
    }
    return out;
  }

  /**
   * What ready environments left on nodes that no longer serve them: containers of swarm services
   * that are gone, and copies of a data volume whose service is pinned to another node (a node
   * drained or lost while its environment healed elsewhere, and back now). Each node's objects are
   * listed before the manager's services, so a clone made meanwhile is never taken for a leftover;
   * a volume still in use is left for a later pass.
   */
  async reapStale(readyEnvIds: readonly string[]): Promise<number> {
    if (readyEnvIds.length === 0) return 0;
    const ready = new Set(readyEnvIds);
    const filter = { label: [LABEL_ENV, `${LABEL_INSTANCE}=${this.instance}`] };
    const perNode = await Promise.all((await this.cluster.reachableApis()).map(async ({ host, docker }) => ({
      host, docker, id: await this.cluster.idOf(host),
      containers: await docker.listContainers({ all: true, filters: filter }),
      volumes: (await docker.listVolumes({ filters: filter })).Volumes ?? [],
    })));
    const services = await this.manager.listServices({ filters: { label: [`${LABEL_INSTANCE}=${this.instance}`] } });
    const serviceIds = new Set(services.map((s) => s.ID));
    const pinnedTo = new Map<string, string>();
    for (const s of services) {
      const pin = pinnedNodeOf(s.Spec);
      if (pin) for (const v of volumeSourcesOf(s.Spec)) pinnedTo.set(v, pin);
    }
    let removed = 0;
    const ignoreGone = (err: unknown) => (isNotFound(err) || isConflict(err) ? undefined : Promise.reject(err));
    for (const n of perNode) {
      for (const c of n.containers) {
        const sid = c.Labels['com.docker.swarm.service.id'];
        if (!ready.has(c.Labels[LABEL_ENV] ?? '') || !sid || serviceIds.has(sid)) continue;
        await n.docker.getContainer(c.Id).remove({ force: true }).then(() => { removed++; }, ignoreGone);
      }
      for (const v of n.volumes) {
        const pin = pinnedTo.get(v.Name);
        if (!ready.has(v.Labels?.[LABEL_ENV] ?? '') || !pin || pin === n.id) continue;
        await n.docker.getVolume(v.Name).remove().then(() => { removed++; }, ignoreGone);
      }
    }
    return removed;
  }

  /** Every node's labelled containers and volumes, and the manager's labelled networks and services. */
  async listOwned(): Promise<OwnedObjects> {
    const filter = { label: [LABEL_ENV, `${LABEL_INSTANCE}=${this.instance}`] };
    const owned: OwnedObjects = { containers: [], networks: [], volumes: [] };
    const perNode = await Promise.all((await this.cluster.reachableApis()).map(async ({ docker }) => Promise.all([
      docker.listContainers({ all: true, filters: filter }), docker.listVolumes({ filters: filter }),
    ])));
    const all = perNode.flatMap(([containers]) => containers);
    // A service keeps its old tasks' containers (swarm's task history, on any node): while one of
    // its containers runs, the stopped ones are history, not a broken service.
    const runningServices = new Set(all.filter((c) => c.State === 'running').map((c) => `${c.Labels[LABEL_ENV]}/${c.Labels[LABEL_COMPOSE_SERVICE]}`));
    // A service the swarm is moving (its old task shut down, a new one on its way to a node) is
    // being healed by the swarm itself: `restarting`, not broken. One pending past the grace (no
    // node can take it: its data's node drained or lost) is not moving; the reconciler heals it.
    const moving = await this.movingServices();
    for (const c of all) {
      const key = `${c.Labels[LABEL_ENV]}/${c.Labels[LABEL_COMPOSE_SERVICE]}`;
      if (c.State !== 'running' && (runningServices.has(key) || moving.has(key))) continue;
      const exit = /^Exited \((-?\d+)\)/.exec(c.Status ?? '');
      owned.containers.push({ id: c.Id, envId: c.Labels[LABEL_ENV]!, service: c.Labels[LABEL_COMPOSE_SERVICE], state: c.State, ...(exit ? { exitCode: Number(exit[1]) } : {}) });
    }
    for (const [key, task] of moving) {
      if (runningServices.has(key)) continue;
      const [envId, service] = key.split('/') as [string, string];
      owned.containers.push({ id: task, envId, service, state: 'restarting' });
    }
    for (const [, volumes] of perNode) {
      for (const v of volumes.Volumes ?? []) owned.volumes.push({ name: v.Name, envId: v.Labels?.[LABEL_ENV] ?? '' });
    }
    for (const n of await this.manager.listNetworks({ filters: filter })) owned.networks.push({ id: n.Id, envId: n.Labels?.[LABEL_ENV] ?? '' });
    return owned;
  }
}
