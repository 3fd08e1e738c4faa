/**
 * The web process's composition root: the logger, the pg pool and the process built by
 * api/build.ts (the same one the tests run), served on its ports. It never touches the Docker socket.
 */
import { loadConfig } from '../core/config/config.js';
import { createLogger } from '../core/platform/log.js';
import { unsupportedServerNode } from '../core/platform/node-version.js';
import { checkRedisAtStart } from '../core/queue/redis.js';
import { openDatabase } from '../core/store/pool.js';
import { createServer } from 'node:http';
import { buildWeb } from './build.js';
import { drainable } from './drain.js';
import { exitOnSignals } from '../core/platform/shutdown.js';

/** The web process's PostgreSQL connections (queries are short; pg-pool queues the rest). */
const PG_POOL_SIZE = 10;

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, 'mayfly-web', { format: config.ops.logFormat });
  await checkRedisAtStart(config.redisUrl, { allowEviction: config.ops.allowRedisEviction, logger, onLateRefusal: (err) => { logger.fatal({ err }, err.message); process.exit(1); } });
  const oldNode = unsupportedServerNode();
  if (oldNode) logger.warn({ node: process.versions.node }, oldNode);
  const pool = await openDatabase(config.databaseUrl, logger, { size: PG_POOL_SIZE, warm: true });
  const { app, router, closeSteps } = await buildWeb({ config, logger, pool });
  const server = app.listen(config.port, () => logger.info({ port: config.port, url: config.publicUrl }, 'mayfly web listening'));
  server.on('error', (err) => { logger.fatal({ err }, `cannot listen on port ${config.port}`); process.exit(1); });
  // The router: every environment at http://<name>.<MAYFLY_DOMAIN>:<MAYFLY_ROUTER_PORT>.
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
    ...closeSteps,
    { name: 'PostgreSQL pool', close: () => pool.end() },
  ], (signal) => logger.info({ signal, graceMs: config.shutdownGraceMs }, 'stopping: finishing requests in flight'));
}

main().catch((err) => {
  console.error(`mayfly web failed to start: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
