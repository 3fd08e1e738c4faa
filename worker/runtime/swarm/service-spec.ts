import { createHash } from 'node:crypto';
import type Docker from 'dockerode';
import {
  LABEL_COMPOSE_PROJECT, LABEL_COMPOSE_SERVICE, LABEL_COMPOSE_VOLUME, LABEL_CONFIG_HASH, LABEL_ENV, LABEL_GENERATION,
  LABEL_INSTANCE, LABEL_ROLE, ROLE_DATA,
  networkName, volumeName,
} from '../../../core/domain/names.js';
import type { ServiceSpec } from '../../../core/stack/model.js';
import type { EnvironmentRef } from '../runtime.js';

const MS = 1_000_000; // nanoseconds per millisecond

/** Compose-stack names (`docker stack deploy` uses the same), so `docker service ls` reads naturally. */
export const swarmServiceName = (project: string, service: string) => `${project}_${service}`;
export const swarmNetworkName = networkName;
export const swarmVolumeName = volumeName;

/**
 * Where a volume that must already exist on its node (a seed clone) would be bound from if the
 * node had to create it: a path that never exists, so a task placed where the clone is not fails
 * to start ("failed to mount local volume ... /mayfly-clone-missing") instead of running the
 * database on a new, empty volume. An existing volume is used as it is (its options are not compared).
 */
export const MISSING_CLONE_DEVICE = '/mayfly-clone-missing';

export function envLabels(instance: string, env: EnvironmentRef): Record<string, string> {
  return { [LABEL_ENV]: env.id, [LABEL_INSTANCE]: instance, [LABEL_GENERATION]: String(env.generation), [LABEL_COMPOSE_PROJECT]: env.project };
}

export interface SwarmServiceOptions {
  /** The overlay network's id. */
  network: string;
  /** The image to run: repository@sha256:... when the pull resolved it, so every node runs the same content. */
  image: string;
  /** node.id==... for a service whose data volume lives on one node. */
  pinnedNode?: string;
  /** Volumes (by compose name) that must already exist on the pinned node. */
  mustExist?: ReadonlySet<string>;
  /** A ReplicatedJob (a dependency's condition is service_completed_successfully). */
  job: boolean;
  /**
   * The engine ignores healthcheck start_interval (before API 1.44): checks run every `interval`
   * from the start, and the service's DNS name resolves only once Docker says healthy. Its
   * start_interval becomes its interval so it is ready in about that long.
   */
  noStartInterval: boolean;
}

function restartCondition(restart: ServiceSpec['restart']): 'none' | 'on-failure' | 'any' {
  if (restart === 'no') return 'none';
  return restart === 'on-failure' ? 'on-failure' : 'any';
}

/**
 * The Engine API body of one compose service as a swarm service: replicated 1 (or a
 * ReplicatedJob), DNS round robin (this kernel has no IPVS: no VIP, no ingress), host-mode
 * published ports, memory reserved as much as limited (so the swarm never overcommits a node),
 * the environment's labels on the service, its containers and its volumes (per-node reaping).
 */
export function swarmServiceSpec(instance: string, env: EnvironmentRef, svc: ServiceSpec, opts: SwarmServiceOptions): Docker.CreateServiceOptions {
  const labels = { ...svc.labels, ...envLabels(instance, env), [LABEL_COMPOSE_SERVICE]: svc.name };
  const mounts = [
    ...svc.volumes.map((v) => ({
      Type: 'volume' as const, Source: swarmVolumeName(env.project, v.source), Target: v.target, ReadOnly: v.readOnly,
      VolumeOptions: {
        NoCopy: false,
        Labels: { ...envLabels(instance, env), [LABEL_COMPOSE_VOLUME]: v.source, [LABEL_ROLE]: ROLE_DATA },
        ...(opts.mustExist?.has(v.source) ? { DriverConfig: { Name: 'local', Options: { type: 'none', device: MISSING_CLONE_DEVICE, o: 'bind' } } } : {}),
      },
    })),
    // Only host paths the stack policy allowed reach here (MAYFLY_ALLOWED_BIND_MOUNTS); they are the node's paths.
    ...(svc.binds ?? []).map((b) => ({ Type: 'bind' as const, Source: b.source, Target: b.target, ReadOnly: b.readOnly })),
    ...svc.tmpfs.map((t) => ({ Type: 'tmpfs' as const, Target: t })),
    ...(svc.shmBytes ? [{ Type: 'tmpfs' as const, Target: '/dev/shm', TmpfsOptions: { SizeBytes: svc.shmBytes } }] : []),
  ];
  const container: Docker.ContainerSpec & Record<string, unknown> = {
    Image: opts.image,
    Labels: labels,
    Env: Object.entries(svc.environment).map(([k, v]) => `${k}=${v}`),
    Mounts: mounts as NonNullable<Docker.ContainerSpec['Mounts']>,
    Init: false,
    // As on one host: no raw sockets, no device nodes. (no-new-privileges is dropped silently by
    // 20.10 engines for services; see docs/swarm.md.)
    CapabilityDrop: ['NET_RAW', 'MKNOD'],
  };
  // Compose's entrypoint is the container's Command in a swarm spec; compose's command is Args.
  if (svc.entrypoint) container.Command = svc.entrypoint;
  if (svc.command) container.Args = svc.command;
  if (svc.workingDir) container.Dir = svc.workingDir;
  if (svc.user) container.User = svc.user;
  if (svc.stopGraceSeconds !== undefined) container.StopGracePeriod = svc.stopGraceSeconds * 1e9;
  if (svc.healthcheck) {
    const h = svc.healthcheck;
    const interval = opts.noStartInterval && h.startIntervalMs ? h.startIntervalMs : h.intervalMs;
    container.HealthCheck = {
      Test: h.test,
      ...(interval ? { Interval: interval * MS } : {}),
      ...(h.timeoutMs ? { Timeout: h.timeoutMs * MS } : {}),
      ...(h.retries ? { Retries: h.retries } : {}),
      ...(h.startPeriodMs ? { StartPeriod: h.startPeriodMs * MS } : {}),
      ...(h.startIntervalMs && !opts.noStartInterval ? { StartInterval: h.startIntervalMs * MS } : {}),
    };
  }
  const spec: Docker.CreateServiceOptions = {
    Name: swarmServiceName(env.project, svc.name),
    Labels: { ...labels },
    TaskTemplate: {
      ContainerSpec: container,
      Resources: {
        Limits: { MemoryBytes: svc.limits.memoryBytes, NanoCPUs: svc.limits.nanoCpus, ...(svc.limits.pids ? { Pids: svc.limits.pids } : {}) },
        Reservations: { MemoryBytes: svc.limits.memoryBytes },
      },
      RestartPolicy: { Condition: opts.job ? 'none' : restartCondition(svc.restart), MaxAttempts: 0 },
      Placement: { Constraints: opts.pinnedNode ? [`node.id==${opts.pinnedNode}`] : [] },
      Networks: [{ Target: opts.network, Aliases: [svc.name] }],
    },
    Mode: opts.job ? { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } } : { Replicated: { Replicas: 1 } },
    EndpointSpec: {
      Mode: 'dnsrr',
      Ports: svc.ports.map((p) => ({ Protocol: p.protocol, TargetPort: p.container, PublishMode: 'host' as const })),
    },
  } as Docker.CreateServiceOptions;
  // The generation is not configuration: a redeploy that changes nothing keeps the service.
  const hash = createHash('sha256').update(JSON.stringify(spec, (k, v) => (k === LABEL_GENERATION ? undefined : v))).digest('hex').slice(0, 16);
  spec.Labels![LABEL_CONFIG_HASH] = hash;
  return spec;
}
