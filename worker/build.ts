/**
 * Builds the worker process from its configuration: the container runtime (its ports), the
 * application layer over PostgreSQL, the seed service, the job consumers. Used by worker/main.ts,
 * the test harness, the benchmarks and the decision tests (over a FakeRuntime) alike, so what is
 * tested is what runs. It serves nothing itself: main.ts adds the internal endpoint and metrics.
 */
import type pg from 'pg';
import { buildAppServices } from '../core/app/services.js';
import type { Config } from '../core/config/config.js';
import type { Logger } from '../core/platform/log.js';
import type { CloseStep } from '../core/platform/shutdown.js';
import { JobQueues } from '../core/queue/jobs.js';
import { redisOptions } from '../core/queue/redis.js';
import { TemplateCatalog } from '../core/catalog/templates.js';
import { SnapshotStore } from '../core/store/snapshots.js';
import { DutyLock } from '../core/store/advisory-lock.js';
import { PoolStore } from '../core/store/warm-pool.js';
import { PoolKeeper } from './jobs/pool.js';
import type { WorkerContext } from './context.js';
import { createRuntime, type RuntimeParts } from './runtime/create.js';
import { SeedService } from './seeds/seed-service.js';
import { WorkerMetrics } from './metrics.js';
import { ReconcileActions } from './reconcile-actions.js';
import { WorkerService } from './service.js';

/** The container engine as the worker sees it: its two ports (a FakeRuntime in decision tests). */
export type Engine = Pick<RuntimeParts, 'runtime' | 'snapshotEngine'> & Partial<Pick<RuntimeParts, 'health' | 'close'>>;

export interface Worker {
  ctx: WorkerContext;
  queues: JobQueues;
  engine: Engine;
  /** Makes the job consumers and schedules, to `start()` (a new set after a `close()`: tests stop and restart them). */
  consumers(): WorkerService;
  /** What to close, in order, once the job consumers stopped (the pool is the caller's). */
  closeSteps: CloseStep[];
}

export interface WorkerOptions {
  config: Config;
  logger: Logger;
  /** A migrated pool (core/store/pool.ts openDatabase). */
  pool: pg.Pool;
  /** The container engine; by default the one MAYFLY_RUNTIME names (worker/runtime/create.ts). */
  engine?: Engine;
}

export async function buildWorker({ config, logger, pool, engine: given }: WorkerOptions): Promise<Worker> {
  // On a swarm, each golden is recorded with the node it was built on.
  const engine: Engine = given ?? createRuntime(config, logger, { golden: (g) => new SnapshotStore(pool).recordNode(g) });
  const queues = new JobQueues(redisOptions(config.redisUrl, 'producer'), config.queuePrefix);
  const ctx = await buildWorkerContext(config, pool, engine, queues, logger);
  return {
    ctx, queues, engine,
    consumers: () => new WorkerService(ctx, redisOptions(config.redisUrl, 'worker')),
    closeSteps: [
      { name: 'job queues', close: () => queues.close() },
      { name: 'container runtime', close: async () => { await engine.close?.(); } },
    ],
  };
}

/** Wires the worker's parts over the clients made above: what every job handler is given. */
async function buildWorkerContext(config: Config, pool: pg.Pool, engine: Engine, queues: JobQueues, logger: Logger): Promise<WorkerContext> {
  const catalog = await TemplateCatalog.load(config.templatesDir, config.registry, config.defaultLimits, config.policy);
  const app = buildAppServices(config, pool, queues, catalog, logger);
  const { datasets, snapshots } = app;
  // A dataset whose definition is wrong (a mask rule naming no generator, say) is said at start;
  // environments of it fail with the same reason, and the others are not held up.
  for (const p of await datasets.problems()) logger.error({ dataset: p.dataset }, `${p.message}; environments of dataset "${p.dataset}" fail until it is fixed`);
  const metrics = new WorkerMetrics();
  const seeds = new SeedService(config, datasets, snapshots, engine.snapshotEngine, logger,
    (fact) => metrics.setCloneStrategy(fact.chosen, fact.expected, fact.downgraded));
  return {
    config, store: app.store, queues, catalog, environments: app.environments, audit: app.audit, savedDatasets: app.savedDatasets,
    runtime: engine.runtime,
    datasets, snapshots, seeds, logger, notifications: app.notifications, admission: app.admission, checkpoints: app.checkpoints, capsules: app.capsules,
    metrics,
    reconcileActions: new ReconcileActions(),
    duties: new DutyLock(pool),
    pool: new PoolKeeper(new PoolStore(pool)),
  };
}
