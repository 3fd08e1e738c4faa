/** A validated, per-environment stack: what the runtime creates, in start order. */
export type DependencyCondition = 'service_started' | 'service_healthy' | 'service_completed_successfully';

export interface Healthcheck {
  /** Docker's form: ["CMD", ...], ["CMD-SHELL", "..."] or ["NONE"]. */
  test: string[];
  intervalMs?: number;
  timeoutMs?: number;
  retries?: number;
  startPeriodMs?: number;
  /**
   * Compose's start_interval: how often to check during start_period. Docker 25 and newer run
   * their checks at this pace; on any engine, Mayfly runs the check itself at most this far apart
   * while it waits for the service, so `interval` can stay long (cheap) once it is running.
   */
  startIntervalMs?: number;
}

export interface PortSpec {
  container: number;
  protocol: 'tcp' | 'udp';
}

export interface VolumeMount {
  /** Name of a volume declared under top-level `volumes`. */
  source: string;
  target: string;
  readOnly: boolean;
}

/** A host path mounted into a container (compose's "/host/path:/target[:ro]"); policy decides. */
export interface BindMount {
  /** The host path as written (policy refuses relative ones and anything outside the allow-list). */
  source: string;
  target: string;
  readOnly: boolean;
  /** Its key in the compose file, e.g. services.web.volumes[1], so a refusal names it. */
  key: string;
}

/**
 * What a service asks of the host beyond its own sandbox. Parsed (not refused by the parser) so
 * that core/stack/policy.ts can refuse each with POLICY_VIOLATION naming the service and key; the
 * runtime never maps these to the Engine API.
 */
export interface HostAccess {
  privileged?: boolean;
  capAdd?: string[];
  networkMode?: string;
  pid?: string;
  ipc?: string;
  devices?: string[];
}

export interface Limits {
  memoryBytes: number;
  nanoCpus: number;
  pids: number;
}

export interface ServiceSpec {
  name: string;
  image: string;
  command?: string[];
  entrypoint?: string[];
  environment: Record<string, string>;
  ports: PortSpec[];
  volumes: VolumeMount[];
  /** Host paths mounted in (allowed only by MAYFLY_ALLOWED_BIND_MOUNTS, never the Docker socket). */
  binds?: BindMount[];
  /** Host privileges asked for; stack policy refuses every one. */
  hostAccess?: HostAccess;
  tmpfs: string[];
  dependsOn: { service: string; condition: DependencyCondition }[];
  healthcheck?: Healthcheck;
  limits: Limits;
  /** Size of /dev/shm (compose shm_size; Docker's default is 64 MB). */
  shmBytes?: number;
  workingDir?: string;
  user?: string;
  labels: Record<string, string>;
  stopGraceSeconds?: number;
  restart: 'no' | 'always' | 'on-failure' | 'unless-stopped';
}

export interface StackSpec {
  /** Services in an order where each comes after everything it depends on. */
  services: ServiceSpec[];
  volumes: string[];
}
