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

/** How long a worker's registration holds without a heartbeat, and how often it renews it. */
export const ENDPOINT_TTL_MS = 15_000;
export const ENDPOINT_HEARTBEAT_MS = 5_000;

/** The few Redis hash commands the registry needs (BullMQ's client and ioredis have them). */
export interface EndpointHash {
  hset(key: string, data: Record<string, string | number>): Promise<number>;
  hgetall(key: string): Promise<Record<string, string>>;
  hdel(key: string, ...fields: string[]): Promise<number>;
}

/** Only a loopback http address is believed: the endpoint listens on loopback, and the secret goes there. */
const LOOPBACK_URL = /^http:\/\/(?:127\.0\.0\.1|\[::1\]):\d{1,5}$/;

/**
 * Where the workers' internal endpoints listen, in Redis (one hash per queue prefix: URL ->
 * expiry in ms). Several workers on one host each take their own port; each registers it and
 * renews it every few seconds, and removes it when it stops. The web process asks any live one:
 * the workers share the host's Docker engine, so any of them answers for every environment.
 */
export class WorkerEndpoints {
  readonly key: string;
  constructor(private readonly client: () => Promise<EndpointHash>, prefix: string) {
    this.key = `${prefix}:worker-internal-endpoints`;
  }

  async register(url: string, now = Date.now()): Promise<void> {
    if (!LOOPBACK_URL.test(url)) throw new Error(`not a loopback http URL: ${url}`);
    await (await this.client()).hset(this.key, { [url]: now + ENDPOINT_TTL_MS });
  }

  async unregister(url: string): Promise<void> {
    await (await this.client()).hdel(this.key, url);
  }

  /** Live endpoints, most recently renewed first; expired ones are removed on the way. */
  async live(now = Date.now()): Promise<string[]> {
    const c = await this.client();
    const all = Object.entries(await c.hgetall(this.key));
    const stale = all.filter(([url, until]) => !(Number(until) > now) || !LOOPBACK_URL.test(url)).map(([url]) => url);
    if (stale.length) await c.hdel(this.key, ...stale).catch(() => undefined);
    return all.filter(([url]) => !stale.includes(url)).sort((a, b) => Number(b[1]) - Number(a[1])).map(([url]) => url);
  }
}
