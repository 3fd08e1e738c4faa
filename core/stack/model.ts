/** A validated, per-environment stack: what the runtime creates, in start order. */
export type DependencyCondition = 'service_started' | 'service_healthy' | 'service_completed_successfully';

export interface Healthcheck {
  /** Docker's form: ["CMD", ...], ["CMD-SHELL", "..."] or ["NONE"]. */
  test: string[];
  intervalMs?: number;
  timeoutMs?: number;
  retries?: number;
  startPeriodMs?: number;
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
