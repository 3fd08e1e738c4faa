/**
 * The web process's composition root: builds the pg pool, the Redis connection for producing
 * jobs and the logger, and serves the API. It never touches the Docker socket.
 */
import pg from 'pg';
import { Redis } from 'ioredis';
import { loadConfig } from '../core/config/config.js';
import { createLogger } from '../core/platform/log.js';
import { unsupportedServerNode } from '../core/platform/node-version.js';
import { JobQueues } from '../core/queue/jobs.js';
import { checkRedisAtStart, redisOptions } from '../core/queue/redis.js';
import { migrate } from '../core/store/migrations.js';
import { TemplateCatalog } from '../core/catalog/templates.js';
import { buildAppServices } from '../core/app/services.js';
import { OverviewStore } from '../core/store/overview.js';
import { createApp } from './app.js';
import { createServer } from 'node:http';
import { EnvironmentRouter } from './router/router.js';
import { ChangeFeed } from '../core/store/change-feed.js';
import { ListCache } from './list-cache.js';
import { drainable } from './drain.js';
import { workerClientOf } from './worker-client.js';
import { exitOnSignals } from '../core/platform/shutdown.js';

/** The web process's PostgreSQL connections (queries are short; pg-pool queues the rest). */
const PG_POOL_SIZE = 10;

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, 'mayfly-web', { format: config.ops.logFormat });
  await checkRedisAtStart(config.redisUrl, { allowEviction: config.ops.allowRedisEviction, logger, onLateRefusal: (err) => { logger.fatal({ err }, err.message); process.exit(1); } });
  const oldNode = unsupportedServerNode();
  if (oldNode) logger.warn({ node: process.versions.node }, oldNode);
  // A fixed-size pool, opened at start (HikariCP's advice): with pg's defaults (grow on demand,
  // close after 10 s idle), a burst after a quiet spell opened up to 20 connections at once, and
  // their start-up (a backend each, SCRAM) stalled requests for about half a second.
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: PG_POOL_SIZE, min: PG_POOL_SIZE, idleTimeoutMillis: 300_000 });
  pool.on('error', (err) => logger.error({ err }, 'postgres pool error'));
  await Promise.all(Array.from({ length: PG_POOL_SIZE }, () => pool.query('SELECT 1')));
  await migrate(pool);
  const catalog = await TemplateCatalog.load(config.templatesDir, config.registry, config.defaultLimits, config.policy);
  const queues = new JobQueues(redisOptions(config.redisUrl, 'producer'), config.queuePrefix);
  const redis = new Redis(redisOptions(config.redisUrl, 'producer'));
  redis.on('error', () => undefined); // reported by /readyz
  const changes = new ChangeFeed(config.databaseUrl, logger);
  await changes.start();
  const services = buildAppServices(config, pool, queues, catalog, logger);
  const { store } = services;
  // One client of the workers' internal endpoint for the whole app; its secret is read (or made) now,
  // so a state directory this user cannot write stops the start with a message saying what to set.
  const worker = workerClientOf({ config, queues });
  const app = createApp({
    worker,
    listCache: new ListCache(changes), changes, config, queues, catalog, logger, ...services, overview: new OverviewStore(pool),
    probes: { postgres: async () => { await pool.query('SELECT 1'); }, redis: async () => { await redis.ping(); } },
  });
  const server = app.listen(config.port, () => logger.info({ port: config.port, url: config.publicUrl }, 'mayfly web listening'));
  server.on('error', (err) => { logger.fatal({ err }, `cannot listen on port ${config.port}`); process.exit(1); });
  // The router: every environment at http://<name>.<MAYFLY_DOMAIN>:<MAYFLY_ROUTER_PORT>.
  const router = new EnvironmentRouter({ config, store, queues, catalog, logger });
  const routerServer = createServer();
  router.attach(routerServer);
  // On MAYFLY_ROUTER_BIND (default 127.0.0.1: this host only); previews ask for sign-in unless public.
  await router.listen(routerServer).catch((err) => {
    logger.fatal({ err }, `cannot listen on ${config.router.bind} port ${config.router.port} (MAYFLY_ROUTER_BIND, MAYFLY_ROUTER_PORT)`);
    process.exit(1);
  });
  logger.info({ bind: config.router.bind, port: config.router.port, domain: config.router.domain }, 'mayfly router listening');
  const http = drainable(server);
  exitOnSignals(logger, config.shutdownGraceMs, () => [
    // The router proxies to environments: its connections are cut at once (browsers retry).
    { name: 'router', close: async () => { routerServer.close(); routerServer.closeAllConnections(); await router.close(); } },
    { name: 'HTTP requests', close: () => http.drain(), ifAbandoned: 'requests still in flight were cut; their clients see a reset and may repeat them (PUT and DELETE are idempotent)' },
    { name: 'change feed', close: () => changes.close() },
    { name: 'job queues', close: () => queues.close() },
    { name: 'Redis', close: async () => { redis.disconnect(); } },
    { name: 'PostgreSQL pool', close: () => pool.end() },
  ], (signal) => logger.info({ signal, graceMs: config.shutdownGraceMs }, 'stopping: finishing requests in flight'));
}

main().catch((err) => {
  console.error(`mayfly web failed to start: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
