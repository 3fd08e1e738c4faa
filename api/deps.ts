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
import type { OverviewStore } from '../core/store/overview.js';
import type { RegistryTags } from '../core/catalog/registry-tags.js';
import type { WorkerClient } from './worker-client.js';
import type { ListCache } from './list-cache.js';
import type { ChangeFeed } from '../core/store/change-feed.js';
import type { AuthFailures } from './middleware/auth-failures.js';
import type { CapsuleService } from '../core/app/capsules.js';
import type { RequestTrail } from './router/trail.js';

/** What the web process's composition root hands to createApp. No Docker here, by design. */
export interface ApiDeps {
  config: Config;
  /** The application service every door calls (core/app/environments.ts). */
  environments: EnvironmentService;
  /** The audit trail: written by the application layer, read by admins (GET /api/v1/audit). */
  audit: AuditTrail;
  /** The application service of saved datasets: list, delete (core/app/datasets.ts). */
  savedDatasets: DatasetService;
  store: EnvironmentStore;
  queues: JobQueues;
  catalog: TemplateCatalog;
  datasets: DatasetCatalog;
  snapshots: SnapshotStore;
  logger: Logger;
  /** Door details and notification subscriptions (Slack, callbacks, GitHub). */
  notifications: NotificationStore;
  /** Readiness probes of the engines the API depends on; each rejects when its engine is down. */
  probes: { postgres: () => Promise<void>; redis: () => Promise<void> };
  /** The worker's internal endpoint (service state, logs); default: config.web.workerInternalUrl. */
  worker?: WorkerClient;
  /** Reuses list answers while nothing changed (api/list-cache.ts); without it every list reads PostgreSQL. */
  listCache?: ListCache;
  /** Committed changes to environments and timelines (LISTEN/NOTIFY): live waits wake on them instead of polling. */
  changes?: ChangeFeed;
  /** Admission limits and the line of waiting environments (core/app/admission.ts). */
  admission: Admission;
  /** Wrong tokens per address, shared by the API and the sign-in page; createApp makes one when absent. */
  authFailures?: AuthFailures;
  /** Read-only aggregates for the overview page and the timeline's latest events. */
  overview: OverviewStore;
  /** The registry's tags (the form's tag picker and the check before queueing); the web router makes one from config when absent. */
  registryTags?: RegistryTags;
  /** Bug capsules (core/app/capsules.ts). */
  capsuleService: CapsuleService;
  /** The router's recent requests per environment, read when a bug capsule is asked for (the router's, shared by buildWeb). */
  requestTrail?: RequestTrail;
}
