import type pg from 'pg';
import { Admission } from './admission.js';
import { AuditTrail } from './audit.js';
import { EnvironmentService } from './environments.js';
import { DatasetService } from './datasets.js';
import type { Config } from '../config/config.js';
import type { Logger } from '../platform/log.js';
import type { JobQueues } from '../queue/jobs.js';
import type { TemplateCatalog } from '../catalog/templates.js';
import { DatasetCatalog } from '../catalog/datasets.js';
import { AuditStore } from '../store/audit.js';
import { EnvironmentStore } from '../store/environments.js';
import { NotificationStore } from '../store/notifications.js';
import { SnapshotStore } from '../store/snapshots.js';
import { CheckpointStore } from '../store/checkpoints.js';
import { CapsuleStore } from '../store/capsules.js';
import { CapsuleService } from './capsules.js';

/** The application layer and the stores under it, wired once for either process (web or worker). */
export interface AppServices {
  store: EnvironmentStore;
  snapshots: SnapshotStore;
  notifications: NotificationStore;
  datasets: DatasetCatalog;
  admission: Admission;
  audit: AuditTrail;
  environments: EnvironmentService;
  /** Saved datasets: list, delete, the limits of a save (core/app/datasets.ts). */
  savedDatasets: DatasetService;
  /** Checkpoints of environments' databases (the worker takes them; the service records and lists them). */
  checkpoints: CheckpointStore;
  /** Bug capsules: their records (the worker takes and removes them). */
  capsules: CapsuleStore;
  /** Bug capsules: take, list, show, delete, restore as a new environment (core/app/capsules.ts). */
  capsuleService: CapsuleService;
}

export function buildAppServices(config: Config, pool: pg.Pool, queues: JobQueues, catalog: TemplateCatalog, logger: Logger): AppServices {
  const store = new EnvironmentStore(pool);
  const snapshots = new SnapshotStore(pool);
  const datasets = new DatasetCatalog(config.seedsDir);
  const admission = new Admission(pool, catalog, config);
  const audit = new AuditTrail(new AuditStore(pool), logger);
  const savedDatasets = new DatasetService({ snapshots, datasets, queues, logger, limits: config.savedDatasets });
  const checkpoints = new CheckpointStore(pool);
  const capsules = new CapsuleStore(pool);
  const environments = new EnvironmentService({ store, queues, catalog, logger, admission, savedDatasets, audit, checkpoints, dataWorkflows: config.dataWorkflows, seedDatasets: datasets });
  return {
    store, snapshots, datasets, admission, audit, notifications: new NotificationStore(pool), savedDatasets, checkpoints, capsules, environments,
    capsuleService: new CapsuleService({ capsules, environments, queues, catalog, audit, perTeam: config.dataWorkflows.capsulesPerTeam, instance: config.instance }),
  };
}
