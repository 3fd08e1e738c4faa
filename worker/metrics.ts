import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { PHASE_BUCKETS, metricsAccess, newRegistry } from '../core/platform/metrics.js';

/** Provisioning phases, in order: what a request-to-ready second was spent on. */
export const PROVISION_PHASES = ['queue_wait', 'pull', 'clone', 'network', 'create', 'start', 'health', 'seed', 'publish'] as const;
export type ProvisionPhase = typeof PROVISION_PHASES[number];

/** Reconciler actions counted from its report (worker/jobs/reconcile.ts ReconcileReport). */
export const RECONCILER_ACTIONS = ['expired', 'requeued', 'teardownsRequeued', 'orphansRemoved', 'goldensRemoved'] as const;

/**
 * The worker's series. The web process derives what PostgreSQL and Redis know (environments by
 * status, queue depths); the worker records what only it sees: how long each provisioning phase
 * and each teardown took, how late TTL teardowns ran, what the reconciler did.
 */
export class WorkerMetrics {
  readonly registry: Registry;
  private readonly phase: Histogram<'phase' | 'template'>;
  private readonly provision: Histogram<'template' | 'outcome'>;
  private readonly teardown: Histogram<'reason'>;
  private readonly ttlLateness: Histogram;
  private readonly reconciler: Counter<'kind'>;
  private readonly cloneStrategy: Gauge<'strategy' | 'expected'>;
  private readonly cloneDowngraded: Gauge;

  constructor() {
    this.registry = newRegistry('worker');
    const registers = [this.registry];
    this.phase = new Histogram({
      name: 'mayfly_provision_phase_seconds', help: 'Time spent in each provisioning phase (queue_wait, pull, clone, network, create, start, health, seed, publish; start and health are wall time from the first create, create and network are parts of it)',
      labelNames: ['phase', 'template'], buckets: PHASE_BUCKETS, registers,
    });
    this.provision = new Histogram({
      name: 'mayfly_provision_seconds', help: 'Provisioning time of one deploy generation, from its job being queued to ready or failed',
      labelNames: ['template', 'outcome'], buckets: PHASE_BUCKETS, registers,
    });
    this.teardown = new Histogram({
      name: 'mayfly_teardown_seconds', help: 'Time to remove an environment\'s containers, networks and volumes',
      labelNames: ['reason'], buckets: PHASE_BUCKETS, registers,
    });
    this.ttlLateness = new Histogram({
      name: 'mayfly_ttl_lateness_seconds', help: 'From an environment\'s expiresAt to its teardown being done (expired leases only)',
      buckets: [0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 300], registers,
    });
    this.reconciler = new Counter({
      name: 'mayfly_reconciler_actions_total', help: 'What the reconciler did, by kind (a field of its report)',
      labelNames: ['kind'], registers,
    });
    for (const kind of RECONCILER_ACTIONS) this.reconciler.inc({ kind }, 0);
    this.cloneStrategy = new Gauge({
      name: 'mayfly_clone_strategy_info', help: 'The seed clone strategy in use (1) and the one expected (reflink under auto)',
      labelNames: ['strategy', 'expected'], registers,
    });
    this.cloneDowngraded = new Gauge({
      name: 'mayfly_clone_strategy_downgraded', help: '1 while seed clones use a strategy other than the expected one (see the worker log and /readyz)',
      registers,
    });
  }

  /** The latest clone strategy decision of the seed service. */
  setCloneStrategy(chosen: string, expected: string, downgraded: boolean): void {
    this.cloneStrategy.reset();
    this.cloneStrategy.set({ strategy: chosen, expected }, 1);
    this.cloneDowngraded.set(downgraded ? 1 : 0);
  }

  observePhase(phase: ProvisionPhase, template: string, ms: number): void {
    this.phase.observe({ phase, template }, ms / 1000);
  }

  observeProvision(template: string, outcome: 'ready' | 'failed', ms: number): void {
    this.provision.observe({ template, outcome }, ms / 1000);
  }

  observeTeardown(reason: string, ms: number, lateByMs?: number): void {
    this.teardown.observe({ reason }, ms / 1000);
    if (lateByMs !== undefined) this.ttlLateness.observe(Math.max(0, lateByMs) / 1000);
  }

  /**
   * Counts every numeric field of a reconciler report as actions of that kind, so a new kind of
   * action shows up by adding a field to the report.
   */
  countReconcile(report: object): void {
    for (const [kind, n] of Object.entries(report)) if (typeof n === 'number' && n > 0) this.reconciler.inc({ kind }, n);
  }
}

/**
 * The worker's /metrics on 127.0.0.1 (MAYFLY_WORKER_METRICS_PORT): the worker serves no users,
 * so it listens on loopback only, and also wants the token when MAYFLY_METRICS_TOKEN is set.
 */
export async function serveWorkerMetrics(registry: Registry, opts: { port: number; token?: string }): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    const access = metricsAccess(opts.token, req.headers.authorization, req.socket.remoteAddress);
    if (access !== 'ok') {
      res.writeHead(access === 'unauthorized' ? 401 : 403, { 'content-type': 'text/plain' }).end(`${access}\n`);
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics` };
}
