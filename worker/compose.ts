import type Docker from 'dockerode';
import type pg from 'pg';
import { buildAppServices } from '../core/app/services.js';
import type { Config } from '../core/config/config.js';
import type { Logger } from '../core/platform/log.js';
import type { JobQueues } from '../core/queue/jobs.js';
import { TemplateCatalog } from '../core/catalog/templates.js';
import type { WorkerContext } from './context.js';
import { DockerRuntime } from './runtime/docker/docker-runtime.js';
import { ProbedHealth } from './runtime/docker/health.js';
import { DockerSnapshotEngine } from './runtime/docker/snapshot-engine.js';
import { SeedService } from './seeds/seed-service.js';
import { WorkerMetrics } from './metrics.js';
import { ReconcileActions } from './reconcile-actions.js';
import { DutyLock } from '../core/store/advisory-lock.js';

/** Wires the worker's parts from the clients its composition root made (also used by tests). */
export async function buildWorkerContext(config: Config, pool: pg.Pool, docker: Docker, queues: JobQueues, logger: Logger): Promise<WorkerContext> {
  const catalog = await TemplateCatalog.load(config.templatesDir, config.registry, config.defaultLimits, config.policy);
  const app = buildAppServices(config, pool, queues, catalog, logger);
  const { datasets, snapshots } = app;
  // One memory of services our own probe saw healthy, for provisioning and for a database brought back.
  const probedHealth = new ProbedHealth();
  const metrics = new WorkerMetrics();
  const seeds = new SeedService(config, datasets, snapshots, new DockerSnapshotEngine(docker, config.instance, config.helperImage, config.localVolumes, probedHealth), logger,
    (fact) => metrics.setCloneStrategy(fact.chosen, fact.expected, fact.downgraded));
  return {
    config, store: app.store, queues, catalog, environments: app.environments, audit: app.audit, savedDatasets: app.savedDatasets,
    runtime: new DockerRuntime(docker, config.instance, config.registryAuth, { cpuBoost: config.startCpuBoost }, probedHealth),
    datasets, snapshots, seeds, logger, notifications: app.notifications, admission: app.admission,
    metrics,
    reconcileActions: new ReconcileActions(),
    duties: new DutyLock(pool),
  };
}
