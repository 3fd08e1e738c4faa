/**
 * The worker process's composition root: the logger, the pg pool and the process built by
 * worker/build.ts (the same one the tests run: its runtime, from worker/runtime/create.ts, is the
 * only Docker access), plus its internal endpoint and metrics server.
 */
import { loadConfig } from '../core/config/config.js';
import { createLogger } from '../core/platform/log.js';
import { unsupportedServerNode } from '../core/platform/node-version.js';
import { checkRedisAtStart } from '../core/queue/redis.js';
import { WorkerEndpoints } from '../core/platform/internal-api.js';
import { workerInternalSecret } from '../core/platform/internal-secret.js';
import { openDatabase } from '../core/store/pool.js';
import { buildWorker } from './build.js';
import { advertiseInternalEndpoint, startInternalServer } from './internal-http.js';
import { listenWithFallback } from './listen.js';
import { serveWorkerMetrics } from './metrics.js';
import { exitOnSignals } from '../core/platform/shutdown.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, 'mayfly-worker', { format: config.ops.logFormat });
  await checkRedisAtStart(config.redisUrl, { allowEviction: config.ops.allowRedisEviction, logger, onLateRefusal: (err) => { logger.fatal({ err }, err.message); process.exit(1); } });
  const oldNode = unsupportedServerNode();
  if (oldNode) logger.warn({ node: process.versions.node }, oldNode);
  const pool = await openDatabase(config.databaseUrl, logger, { size: 10 });
  const { ctx, queues, engine, consumers, closeSteps } = await buildWorker({ config, logger, pool });
  await engine.health?.();
  // Service state and logs for the web process, which never opens the Docker socket itself.
  // A port in use does not stop the worker: its jobs matter more; the pages then say the state is unavailable.
  // Several workers per host: a default port taken by another worker gives way to the next free one.
  // Its secret: given, or random and kept in the state directory (made here at the first start).
  let secret: string | undefined;
  try {
    secret = workerInternalSecret(config.web);
  } catch (err) {
    logger.error({ err }, `${(err as Error).message}: the internal endpoint is not served, so web pages will not show service state or logs`);
  }
  const internal = secret === undefined ? undefined : await listenWithFallback(config.web.workerInternalPort, config.web.workerInternalPortFallback,
    (port) => startInternalServer(ctx, { port, secret, host: config.web.workerInternalHost })).catch((err) => {
    logger.error({ err, port: config.web.workerInternalPort, host: config.web.workerInternalHost }, 'cannot serve the internal endpoint (MAYFLY_WORKER_INTERNAL_PORT, MAYFLY_WORKER_INTERNAL_HOST): web pages will not show service state or logs');
    return undefined;
  });
  if (internal) logger.info({ url: internal.url }, 'internal endpoint listening (service state, logs)');
  // Registered where the web process finds every worker's endpoint (core/platform/internal-api.ts):
  // loopback endpoints only; one on another address is found through MAYFLY_WORKER_INTERNAL_URL.
  const loopback = internal && /^http:\/\/(?:127\.0\.0\.1|\[::1\]):\d+$/.test(internal.url);
  if (internal && !loopback) logger.info({ url: internal.url }, 'the internal endpoint is not on loopback, so it is not registered in Redis: set MAYFLY_WORKER_INTERNAL_URL for the web process');
  const advertised = internal && loopback && advertiseInternalEndpoint(new WorkerEndpoints(() => queues.provision.getBackend().client, config.queuePrefix), internal.url, logger);
  const metricsServer = config.ops.workerMetricsPort !== undefined
    ? await listenWithFallback(config.ops.workerMetricsPort, config.ops.workerMetricsPortFallback,
      (port) => serveWorkerMetrics(ctx.metrics.registry, { port, ...(config.ops.metricsToken ? { token: config.ops.metricsToken } : {}) }))
      .catch((err: Error) => { throw new Error(`cannot serve worker metrics on 127.0.0.1:${config.ops.workerMetricsPort} (MAYFLY_WORKER_METRICS_PORT): ${err.message}; set it to a free port, 0 for any free one, or off`); })
    : undefined;
  if (metricsServer) logger.info({ url: metricsServer.url }, 'worker metrics listening');
  // Jobs last: once "worker started" is logged, its endpoints listen too (a supervisor, or a test,
  // that waits for that line finds them).
  const service = consumers();
  await service.start();

  exitOnSignals(logger, config.shutdownGraceMs, () => [
    { name: 'job workers', close: () => service.close(),
      ifAbandoned: 'running jobs were left active; BullMQ hands each to a worker once its lock lapses (30 s), and it resumes where it stopped' },
    { name: 'internal endpoint', close: async () => { if (advertised) await advertised.close(); await internal?.close(); } },
    { name: 'metrics server', close: async () => { metricsServer?.server.close(); } },
    ...closeSteps,
    { name: 'PostgreSQL pool', close: () => pool.end() },
  ], (signal) => logger.info({ signal, graceMs: config.shutdownGraceMs }, 'stopping: letting running jobs finish'));
}

main().catch((err) => {
  console.error(`mayfly worker failed to start: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
