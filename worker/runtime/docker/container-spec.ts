import { createHash } from 'node:crypto';
import type Docker from 'dockerode';
import {
  LABEL_COMPOSE_CONTAINER_NUMBER, LABEL_COMPOSE_ONEOFF, LABEL_COMPOSE_PROJECT, LABEL_COMPOSE_SERVICE, LABEL_CONFIG_HASH,
  LABEL_ENV, LABEL_GENERATION, LABEL_INSTANCE, networkName, volumeName,
} from '../../../core/domain/names.js';
import type { ServiceSpec } from '../../../core/stack/model.js';
import type { EnvironmentRef } from '../runtime.js';

const MS = 1_000_000; // nanoseconds per millisecond

/** The labels of an environment's network and volumes. */
export function baseLabels(instance: string, env: EnvironmentRef): Record<string, string> {
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
      [LABEL_COMPOSE_CONTAINER_NUMBER]: '1',
      [LABEL_COMPOSE_ONEOFF]: 'False',
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
export function exitCodeOf(status: string | undefined): number | undefined {
  const m = /^Exited \((-?\d+)\)/.exec(status ?? '');
  return m ? Number(m[1]) : undefined;
}
