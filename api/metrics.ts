import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { Gauge, Histogram, type Registry } from 'prom-client';
import { STATUSES } from '../core/domain/environment.js';
import { AuthError, MayflyError } from '../core/domain/errors.js';
import { metricsAccess, newRegistry } from '../core/platform/metrics.js';
import type { ApiDeps } from './deps.js';

/** BullMQ job states shown as queue depths. */
const QUEUE_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed'] as const;

/**
 * The web process's series. Environments by status and queue depths are read from PostgreSQL
 * and Redis when Prometheus scrapes, so they are right whichever process changed them; request
 * latency is recorded here. The worker's own series are on its loopback port (worker/metrics.ts).
 */
export class WebMetrics {
  readonly registry: Registry;
  private readonly http: Histogram<'method' | 'route' | 'status'>;

  constructor(deps: Pick<ApiDeps, 'store' | 'queues' | 'catalog' | 'admission'>) {
    this.registry = newRegistry('web');
    const registers = [this.registry];
    this.http = new Histogram({
      name: 'mayfly_http_request_duration_seconds', help: 'API request latency by route pattern (not the raw path) and status',
      labelNames: ['method', 'route', 'status'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers,
    });
    new Gauge({
      name: 'mayfly_environments', help: 'Environments recorded in PostgreSQL, by status and template',
      labelNames: ['status', 'template'], registers,
      async collect() {
        this.reset();
        // Every status of every known template, so a dashboard shows 0 rather than no series.
        for (const t of deps.catalog.list()) for (const status of STATUSES) this.set({ status, template: t.name }, 0);
        for (const row of await deps.store.countByStatus()) this.set({ status: row.status, template: row.template }, row.count);
      },
    });
    new Gauge({
      name: 'mayfly_failed_environments', help: 'Environments failed now (until retried or their lease ends), by template and failure code',
      labelNames: ['template', 'code'], registers,
      async collect() {
        this.reset();
        const counts = new Map<string, { template: string; code: string; n: number }>();
        for (const env of await deps.store.list({ statuses: ['failed'], limit: 5000 })) {
          const code = env.failure?.code ?? 'UNKNOWN';
          const key = `${env.template}\0${code}`;
          const c = counts.get(key) ?? { template: env.template, code, n: 0 };
          c.n += 1;
          counts.set(key, c);
        }
        for (const c of counts.values()) this.set({ template: c.template, code: c.code }, c.n);
      },
    });
    // The warm pool (templates' pool:), read from PostgreSQL at each scrape.
    let poolRead: ReturnType<typeof deps.admission.poolStats> | undefined;
    const poolOnce = () => {
      poolRead ??= deps.admission.poolStats().finally(() => { setImmediate(() => { poolRead = undefined; }); });
      return poolRead;
    };
    new Gauge({
      name: 'mayfly_pool_size', help: 'Warm-pool standbys each template keeps (pool.size in its template.yml)',
      labelNames: ['template'], registers,
      async collect() { this.reset(); for (const r of await poolOnce()) this.set({ template: r.template }, r.size); },
    });
    new Gauge({
      name: 'mayfly_pool_standbys', help: 'Warm-pool standbys now, by template and status (starting, ready: claimable, draining)',
      labelNames: ['template', 'status'], registers,
      async collect() {
        this.reset();
        for (const r of await poolOnce()) for (const status of ['starting', 'ready', 'draining'] as const) this.set({ template: r.template, status }, r[status]);
      },
    });
    new Gauge({
      name: 'mayfly_pool_claims', help: 'New environments of a pooled template since the installation began: hit (took a standby) or miss (none was ready), a count that only grows',
      labelNames: ['template', 'outcome'], registers,
      async collect() {
        this.reset();
        for (const r of await poolOnce()) { this.set({ template: r.template, outcome: 'hit' }, r.hits); this.set({ template: r.template, outcome: 'miss' }, r.misses); }
      },
    });
    // Admission (core/app/admission.ts), read from PostgreSQL at each scrape like the environments.
    const admission = async () => deps.admission.usage();
    let usage: ReturnType<typeof admission> | undefined;
    /** One read per scrape for the three gauges below (each collect() asks; the first one reads). */
    const usageOnce = () => {
      usage ??= admission().finally(() => { setImmediate(() => { usage = undefined; }); });
      return usage;
    };
    new Gauge({
      name: 'mayfly_memory_budget_bytes', help: 'The host\'s memory budget for environments (MAYFLY_MEMORY_BUDGET; 0: no budget)', registers,
      async collect() { this.set((await usageOnce()).memoryBudgetBytes); },
    });
    new Gauge({
      name: 'mayfly_memory_reserved_bytes', help: 'Memory declared by the templates of environments holding capacity (what the budget is spent on)', registers,
      async collect() { this.set((await usageOnce()).reservedMemoryBytes); },
    });
    new Gauge({
      name: 'mayfly_admission_environments', help: 'Environments holding capacity (holding) or queued for it (waiting)',
      labelNames: ['state'], registers,
      async collect() {
        const u = await usageOnce();
        this.set({ state: 'holding' }, u.holding);
        this.set({ state: 'waiting' }, u.waiting);
      },
    });
    new Gauge({
      name: 'mayfly_queue_jobs', help: 'BullMQ jobs by queue and state',
      labelNames: ['queue', 'state'], registers,
      async collect() {
        this.reset();
        for (const q of [deps.queues.provision, deps.queues.lifecycle]) {
          const counts = await q.getJobCounts(...QUEUE_STATES);
          for (const state of QUEUE_STATES) this.set({ queue: q.name, state }, counts[state] ?? 0);
        }
      },
    });
  }

  /** Records each request's latency under the route pattern that matched (`/api/v1/environments/:name`). */
  middleware(): RequestHandler {
    return (req: Request, res: Response, next: NextFunction) => {
      const started = process.hrtime.bigint();
      rememberRoutePattern(req);
      res.on('finish', () => {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        this.http.observe({ method: req.method, route: routePattern(req), status: String(res.statusCode) }, seconds);
      });
      next();
    };
  }

  /** GET /metrics, for whoever metricsAccess lets in (MAYFLY_METRICS_TOKEN, else loopback only). */
  handler(token: string | undefined): RequestHandler {
    return async (req: Request, res: Response) => {
      const access = metricsAccess(token, req.get('authorization'), req.socket.remoteAddress);
      if (access === 'unauthorized') throw new AuthError('a valid metrics token is required: send "Authorization: Bearer <MAYFLY_METRICS_TOKEN>"');
      if (access === 'forbidden') throw new MayflyError('FORBIDDEN', 403, '/metrics answers only clients on this host unless MAYFLY_METRICS_TOKEN is set');
      res.type(this.registry.contentType).send(await this.registry.metrics());
    };
  }
}

const PATTERN = Symbol('mayfly.routePattern');
type Tagged = Request & { [PATTERN]?: string };

/**
 * The router sets `req.route` when a route matches, while `req.baseUrl` still names the mount
 * point; by the time the answer is sent (an error handled at the top, say) the router has
 * restored `baseUrl`. So the pattern is captured at the moment of the match.
 */
function rememberRoutePattern(req: Request): void {
  let route: unknown;
  Object.defineProperty(req, 'route', {
    configurable: true, enumerable: true,
    get: () => route,
    set(value: { path?: unknown } | undefined) {
      route = value;
      if (value && typeof value.path === 'string') (req as Tagged)[PATTERN] = `${req.baseUrl}${value.path === '/' && req.baseUrl ? '' : value.path}`;
    },
  });
}

/** The matched pattern; requests that matched no route share one label (raw paths would explode the series). */
export function routePattern(req: Request): string {
  return (req as Tagged)[PATTERN] ?? 'unmatched';
}
