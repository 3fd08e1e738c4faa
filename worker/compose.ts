import type pg from 'pg';
import { buildAppServices } from '../core/app/services.js';
import type { Config } from '../core/config/config.js';
import type { Logger } from '../core/platform/log.js';
import type { JobQueues } from '../core/queue/jobs.js';
import { TemplateCatalog } from '../core/catalog/templates.js';
import type { WorkerContext } from './context.js';
import type { RuntimeParts } from './runtime/create.js';
import { SeedService } from './seeds/seed-service.js';
import { WorkerMetrics } from './metrics.js';
import { ReconcileActions } from './reconcile-actions.js';
import { DutyLock } from '../core/store/advisory-lock.js';

/**
 * Wires the worker's parts from the clients its composition root made (also used by tests): the
 * container runtime comes as its ports (worker/runtime/create.ts, or a fake in unit tests).
 */
export async function buildWorkerContext(config: Config, pool: pg.Pool, engine: Pick<RuntimeParts, 'runtime' | 'snapshotEngine'>, queues: JobQueues, logger: Logger): Promise<WorkerContext> {
  const catalog = await TemplateCatalog.load(config.templatesDir, config.registry, config.defaultLimits, config.policy);
  const app = buildAppServices(config, pool, queues, catalog, logger);
  const { datasets, snapshots } = app;
  const metrics = new WorkerMetrics();
  const seeds = new SeedService(config, datasets, snapshots, engine.snapshotEngine, logger,
    (fact) => metrics.setCloneStrategy(fact.chosen, fact.expected, fact.downgraded));
  return {
    config, store: app.store, queues, catalog, environments: app.environments, audit: app.audit, savedDatasets: app.savedDatasets,
    runtime: engine.runtime,
    datasets, snapshots, seeds, logger, notifications: app.notifications, admission: app.admission,
    metrics,
    reconcileActions: new ReconcileActions(),
    duties: new DutyLock(pool),
  };
}
