/**
 * The contract of the worker's internal endpoint: the web process asks the worker (which alone
 * holds the Docker socket) for an environment's service states and its containers' logs.
 * Served on loopback, every request carrying the shared secret in INTERNAL_SECRET_HEADER.
 */
export const INTERNAL_SECRET_HEADER = 'x-mayfly-internal-secret';

export interface ServiceStatus {
  service: string;
  /** Docker's state: running, exited, restarting, created... */
  state: string;
  running: boolean;
  health: 'healthy' | 'unhealthy' | 'starting' | 'none';
  /** The image reference the container runs, and its local image id. */
  image: string;
  imageId: string;
  startedAt: string | null;
}

/** Lines of log a request may ask for at most. */
export const MAX_LOG_TAIL = 5000;

export const internalPaths = {
  services: (envId: string) => `/internal/environments/${encodeURIComponent(envId)}/services`,
  logs: (envId: string) => `/internal/environments/${encodeURIComponent(envId)}/logs`,
};
