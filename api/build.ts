/**
 * Builds the web process from its configuration: the application layer over PostgreSQL, the job
 * queues, the change feed, the Express app and the environment router. Used by api/main.ts, the
 * test harness and the benchmarks alike, so what is tested is what runs. It listens nowhere and
 * never touches the Docker socket.
 */
import type pg from 'pg';
import { Redis } from 'ioredis';
import type { Express } from 'express';
import type { Config } from '../core/config/config.js';
import type { Logger } from '../core/platform/log.js';
import type { CloseStep } from '../core/platform/shutdown.js';
import { JobQueues } from '../core/queue/jobs.js';
import { redisOptions } from '../core/queue/redis.js';
import { TemplateCatalog } from '../core/catalog/templates.js';
import { buildAppServices, type AppServices } from '../core/app/services.js';
import { OverviewStore } from '../core/store/overview.js';
import { SpentTicketStore } from '../core/store/spent-tickets.js';
import { ChangeFeed } from '../core/store/change-feed.js';
import { createApp } from './app.js';
import { EnvironmentRouter } from './router/router.js';
import { RequestTrail } from './router/trail.js';
import { ListCache } from './list-cache.js';
import { AuthFailures } from './middleware/auth-failures.js';
import { workerClientOf, type WorkerClient } from './worker-client.js';

export interface Web {
  app: Express;
  /** The router (http://<name>.<MAYFLY_DOMAIN>:<port>); attach it to a server and listen. */
  router: EnvironmentRouter;
  services: AppServices;
  catalog: TemplateCatalog;
  queues: JobQueues;
  changes: ChangeFeed;
  /** What to close, in order, once the servers stopped taking requests (the pool is the caller's). */
  closeSteps: CloseStep[];
}

export interface WebOptions {
  config: Config;
  logger: Logger;
  /** A migrated pool (core/store/pool.ts openDatabase). */
  pool: pg.Pool;
  /** The workers' internal endpoint; by default the one config and Redis name (api/worker-client.ts). */
  worker?: WorkerClient;
}

export async function buildWeb({ config, logger, pool, worker }: WebOptions): Promise<Web> {
  const catalog = await TemplateCatalog.load(config.templatesDir, config.registry, config.defaultLimits, config.policy);
  const queues = new JobQueues(redisOptions(config.redisUrl, 'producer'), config.queuePrefix);
  const redis = new Redis(redisOptions(config.redisUrl, 'producer'));
  redis.on('error', () => undefined); // reported by /readyz
  const changes = new ChangeFeed(config.databaseUrl, logger);
  await changes.start();
  const services = buildAppServices(config, pool, queues, catalog, logger);
  // Wrong tokens per address: one count for the API, the sign-in page and the router.
  const authFailures = new AuthFailures(config.web.authFailuresPerMinute);
  // The router records each environment's recent requests; a bug capsule asked for through the API reads them.
  const requestTrail = new RequestTrail();
  const app = createApp({
    authFailures,
    // One client of the workers' internal endpoint for the whole app; its secret is read (or made) now,
    // so a state directory this user cannot write stops the start with a message saying what to set.
    worker: worker ?? workerClientOf({ config, queues }),
    listCache: new ListCache(changes), changes, requestTrail, config, queues, catalog, logger, ...services, overview: new OverviewStore(pool),
    probes: { postgres: async () => { await pool.query('SELECT 1'); }, redis: async () => { await redis.ping(); } },
  });
  const router = new EnvironmentRouter({ config, store: services.store, queues, catalog, logger, authFailures, spentTickets: new SpentTicketStore(pool), trail: requestTrail });
  return {
    app, router, services, catalog, queues, changes,
    closeSteps: [
      { name: 'change feed', close: () => changes.close() },
      { name: 'job queues', close: () => queues.close() },
      { name: 'Redis', close: async () => { redis.disconnect(); } },
    ],
  };
}
