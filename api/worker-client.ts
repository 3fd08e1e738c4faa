import { Readable } from 'node:stream';
import { INTERNAL_SECRET_HEADER, WorkerEndpoints, internalPaths, type ServiceStatus } from '../core/platform/internal-api.js';
import { workerInternalSecret } from '../core/platform/internal-secret.js';
import { NotFoundError, UnavailableError } from '../core/domain/errors.js';
import type { JobQueues } from '../core/queue/jobs.js';

/** How long the web keeps the list of registered workers before it asks Redis again. */
const ENDPOINTS_CACHE_MS = 2000;

/**
 * The web process's client of the worker's internal endpoint (worker/internal-http.ts): service
 * states and log streams come from the worker, which alone holds the Docker socket.
 */
export class WorkerClient {
  private cached: { urls: string[]; until: number } | undefined;

  /**
   * @param baseUrl the one endpoint to ask, or (several workers) where to find the registered
   * ones: `endpoints`, with `baseUrl` as the fallback while none is registered or Redis is down.
   */
  constructor(private readonly baseUrl: string, private readonly secret: string, private readonly endpoints?: WorkerEndpoints) {}

  /** Endpoints to try in order: the registered workers (freshest first), then the configured URL. */
  private async candidates(): Promise<string[]> {
    if (!this.endpoints) return [this.baseUrl];
    if (!this.cached || this.cached.until < Date.now()) {
      const urls = await Promise.race([
        this.endpoints.live(),
        new Promise<string[]>((resolve) => setTimeout(() => resolve([]), 1000).unref()),
      ]).catch(() => [] as string[]);
      this.cached = { urls, until: Date.now() + ENDPOINTS_CACHE_MS };
    }
    return [...new Set([...this.cached.urls, this.baseUrl])];
  }

  private async get(path: string, signal?: AbortSignal): Promise<Response> {
    let res: Response | undefined;
    let lastError: unknown;
    const tried: string[] = [];
    // Any worker answers for every environment (they share the Docker engine): one that does not
    // answer (stopped, killed before its registration lapsed) is passed over for the next.
    for (const url of await this.candidates()) {
      tried.push(url);
      try {
        res = await fetch(`${url}${path}`, { headers: { [INTERNAL_SECRET_HEADER]: this.secret }, ...(signal ? { signal } : {}) });
        break;
      } catch (err) {
        lastError = err;
        if (signal?.aborted) break;
      }
    }
    if (!res) {
      this.cached = undefined;
      throw new UnavailableError(`the worker's internal endpoint does not answer (tried ${tried.join(', ')}; MAYFLY_WORKER_INTERNAL_URL, or the workers' registrations when it is unset)`, lastError);
    }
    if (res.status === 404) {
      const body = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
      throw new NotFoundError(body.error?.code ?? 'NOT_FOUND', body.error?.message ?? 'not found');
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw new UnavailableError(`the worker's internal endpoint answered ${res.status}`);
    }
    return res;
  }

  async services(envId: string, timeoutMs = 5000): Promise<ServiceStatus[]> {
    const res = await this.get(internalPaths.services(envId), AbortSignal.timeout(timeoutMs));
    return ((await res.json()) as { services: ServiceStatus[] }).services;
  }

  /** A service's log as a byte stream; destroying it stops the worker following. */
  async logs(envId: string, service: string, opts: { tail: number; follow: boolean }, signal?: AbortSignal): Promise<Readable> {
    const q = new URLSearchParams({ service, tail: String(opts.tail), follow: String(opts.follow) });
    const res = await this.get(`${internalPaths.logs(envId)}?${q}`, signal);
    return Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
  }

  /** The last lines as text, for a page; '' when the service has no container now. */
  async tail(envId: string, service: string, lines: number, timeoutMs = 5000): Promise<string> {
    try {
      const stream = await this.logs(envId, service, { tail: lines, follow: false }, AbortSignal.timeout(timeoutMs));
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(Buffer.from(c));
      return Buffer.concat(chunks).toString('utf8');
    } catch (err) {
      if (err instanceof NotFoundError) return '';
      throw err;
    }
  }
}

/**
 * The client the app was given (tests start the endpoint on port 0), else: MAYFLY_WORKER_INTERNAL_URL
 * when it is set, or the workers registered in Redis (several workers per host), falling back to
 * the default URL.
 */
export function workerClientOf(deps: {
  worker?: WorkerClient;
  queues?: Pick<JobQueues, 'provision'>;
  config: { queuePrefix: string; web: { workerInternalUrl: string; workerInternalUrlGiven?: boolean; workerInternalSecret?: string; workerInternalSecretFile: string } };
}): WorkerClient {
  if (deps.worker) return deps.worker;
  const { web } = deps.config;
  const queues = deps.queues;
  // Given, or the random one in the state directory (made now when the web starts first).
  const secret = workerInternalSecret(web);
  if (web.workerInternalUrlGiven || !queues) return new WorkerClient(web.workerInternalUrl, secret);
  const endpoints = new WorkerEndpoints(() => queues.provision.getBackend().client, deps.config.queuePrefix);
  return new WorkerClient(web.workerInternalUrl, secret, endpoints);
}
