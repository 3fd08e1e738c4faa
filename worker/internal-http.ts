/**
 * The worker's internal endpoint, on loopback only (127.0.0.1 unless MAYFLY_WORKER_INTERNAL_HOST
 * says otherwise): the web process (which never opens the Docker socket) asks here for an
 * environment's service states and streams its containers' logs. Every request must carry the
 * shared secret (core/platform/internal-secret.ts: given, or random and kept in the state
 * directory); nothing here changes anything.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { ENDPOINT_HEARTBEAT_MS, INTERNAL_SECRET_HEADER, MAX_LOG_TAIL, type WorkerEndpoints } from '../core/platform/internal-api.js';
import type { Logger } from '../core/platform/log.js';
import type { EnvironmentStore } from '../core/store/environments.js';
import type { Runtime } from './runtime/runtime.js';

export interface InternalServer {
  url: string;
  close(): Promise<void>;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export async function startInternalServer(
  deps: { store: EnvironmentStore; runtime: Runtime; logger: Logger },
  opts: { port: number; secret: string; host?: string },
): Promise<InternalServer> {
  const expected = digest(opts.secret);
  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const given = req.headers[INTERNAL_SECRET_HEADER];
    if (typeof given !== 'string' || !timingSafeEqual(digest(given), expected)) return send(res, 401, { error: { code: 'UNAUTHORIZED', message: 'internal endpoint: wrong or missing secret' } });
    const url = new URL(req.url ?? '/', 'http://internal');
    const m = /^\/internal\/environments\/([0-9a-f-]{36})\/(services|logs)$/.exec(url.pathname);
    if (req.method !== 'GET' || !m) return send(res, 404, { error: { code: 'ROUTE_NOT_FOUND', message: 'no such internal route' } });
    const env = await deps.store.getById(m[1]!);
    if (!env) return send(res, 404, { error: { code: 'ENVIRONMENT_NOT_FOUND', message: 'no such environment' } });
    if (m[2] === 'services') return send(res, 200, { services: await deps.runtime.services(env.id) });

    const service = url.searchParams.get('service') ?? '';
    const tail = Math.min(MAX_LOG_TAIL, Math.max(0, Number(url.searchParams.get('tail') ?? 100) || 0));
    const follow = url.searchParams.get('follow') === 'true';
    const stream = /^[a-z0-9][a-z0-9_.-]{0,62}$/.test(service)
      ? await deps.runtime.logStream({ id: env.id, project: env.project, generation: env.generation }, service, { tail, follow })
      : undefined;
    if (!stream) return send(res, 404, { error: { code: 'SERVICE_NOT_FOUND', message: `environment "${env.name}" has no running container for service "${service}"` } });
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    res.flushHeaders();
    res.on('close', () => stream.destroy());
    await pipeline(stream, res).catch(() => undefined);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      deps.logger.error({ err, path: req.url }, 'internal endpoint failed');
      if (!res.headersSent) send(res, 500, { error: { code: 'INTERNAL', message: 'the worker could not answer; see its log' } });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  const { address, port, family } = server.address() as AddressInfo;
  return {
    url: `http://${family === 'IPv6' ? `[${address}]` : address}:${port}`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/**
 * Registers the endpoint's URL where the web process looks (core/platform/internal-api.ts WorkerEndpoints)
 * and renews it until close(), which removes it. A Redis that does not answer is retried at the
 * next beat; meanwhile the web falls back to MAYFLY_WORKER_INTERNAL_URL's default.
 */
export function advertiseInternalEndpoint(endpoints: WorkerEndpoints, url: string, logger: Logger): { close(): Promise<void> } {
  let warned = false;
  const beat = () => endpoints.register(url).then(
    () => { warned = false; },
    (err: unknown) => {
      if (!warned) logger.warn({ err, url }, 'cannot register the internal endpoint in Redis yet: the web may not find this worker until it can');
      warned = true;
    },
  );
  void beat();
  const timer = setInterval(() => { void beat(); }, ENDPOINT_HEARTBEAT_MS);
  timer.unref();
  return {
    async close() {
      clearInterval(timer);
      await Promise.race([endpoints.unregister(url), new Promise((resolve) => setTimeout(resolve, 2000).unref())]).catch(() => undefined);
    },
  };
}
