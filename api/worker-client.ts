import { Readable } from 'node:stream';
import { INTERNAL_SECRET_HEADER, internalPaths, type ServiceStatus } from '../core/internal-api.js';
import { NotFoundError, UnavailableError } from '../core/errors.js';

/**
 * The web process's client of the worker's internal endpoint (worker/internal-http.ts): service
 * states and log streams come from the worker, which alone holds the Docker socket.
 */
export class WorkerClient {
  constructor(private readonly baseUrl: string, private readonly secret: string) {}

  private async get(path: string, signal?: AbortSignal): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, { headers: { [INTERNAL_SECRET_HEADER]: this.secret }, ...(signal ? { signal } : {}) });
    } catch (err) {
      throw new UnavailableError(`the worker's internal endpoint does not answer (MAYFLY_WORKER_INTERNAL_URL ${this.baseUrl})`, err);
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

/** The client the app was given (tests start the endpoint on port 0), else the configured one. */
export function workerClientOf(deps: { worker?: WorkerClient; config: { web: { workerInternalUrl: string; workerInternalSecret: string } } }): WorkerClient {
  return deps.worker ?? new WorkerClient(deps.config.web.workerInternalUrl, deps.config.web.workerInternalSecret);
}
