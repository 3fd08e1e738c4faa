import type { Admission } from '../core/app/admission.js';
import type { EnvironmentService } from '../core/app/environments.js';
import type { AuditTrail } from '../core/app/audit.js';
import type { DatasetService } from '../core/app/datasets.js';
import type { Config } from '../core/config/config.js';
import type { Logger } from '../core/platform/log.js';
import type { JobQueues } from '../core/queue/jobs.js';
import type { EnvironmentStore } from '../core/store/environments.js';
import type { NotificationStore } from '../core/store/notifications.js';
import type { TemplateCatalog } from '../core/catalog/templates.js';
import type { DatasetCatalog } from '../core/catalog/datasets.js';
import type { SnapshotStore } from '../core/store/snapshots.js';
import type { CheckpointStore } from '../core/store/checkpoints.js';
import type { CapsuleStore } from '../core/store/capsules.js';
import type { DutyLock } from '../core/store/advisory-lock.js';
import type { Runtime } from './runtime/runtime.js';
import type { SeedService } from './seeds/seed-service.js';
import type { WorkerMetrics } from './metrics.js';
import type { ReconcileActions } from './reconcile-actions.js';

/** What every job handler gets from the worker's composition root. */
export interface WorkerContext {
  config: Config;
  store: EnvironmentStore;
  /** The application service: what a job decides about an environment's record goes through it. */
  environments: EnvironmentService;
  /** The audit trail (who did what to which environment). */
  audit: AuditTrail;
  /** The application service of saved datasets (a save's admission against its team's limits). */
  savedDatasets: DatasetService;
  queues: JobQueues;
  catalog: TemplateCatalog;
  runtime: Runtime;
  datasets: DatasetCatalog;
  snapshots: SnapshotStore;
  seeds: SeedService;
  /** Checkpoints of environments' databases (taken before redeploys and resets, and on request). */
  checkpoints: CheckpointStore;
  /** Bug capsules (taken, restored and removed by the worker; core/app/capsules.ts decides). */
  capsules: CapsuleStore;
  logger: Logger;
  /** The notification outbox (subscriptions, deliveries, expiry warnings). */
  notifications: NotificationStore;
  /** The worker's Prometheus series (phases, teardowns, reconciler actions). */
  metrics: WorkerMetrics;
  /** The reconciler's corrective actions, counted by kind (metrics hook in with `.on('action')`). */
  reconcileActions: ReconcileActions;
  /** Admission limits: who may start now, who waits in line (core/app/admission.ts). */
  admission: Admission;
  /** One run at a time of a periodic duty across worker processes. */
  duties: DutyLock;
  /** The warm pool's keeper (worker/jobs/pool.ts PoolKeeper), run after each reconcile; absent in unit tests' contexts. */
  pool?: {
    tick(ctx: WorkerContext): void;
    idle(): Promise<void>;
    drainAll(ctx: WorkerContext, why?: string): Promise<number>;
  };
}
