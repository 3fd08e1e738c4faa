/**
 * Starts Mayfly's web app and worker in this process against the real engines that
 * `npm test` started (Docker, Redis, PostgreSQL, the registry). Each harness gets its own
 * PostgreSQL database and BullMQ prefix, so test files run side by side without sharing state.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import Docker from 'dockerode';
import { loadConfig, type Config } from '../../core/config/config.js';
import { createLogger, type Logger } from '../../core/platform/log.js';
import type { JobQueues } from '../../core/queue/jobs.js';
import type { EnvironmentStore } from '../../core/store/environments.js';
import type { createApp } from '../../api/app.js';
import { buildWeb } from '../../api/build.js';
import { openDatabase } from '../../core/store/pool.js';
import { createTestDatabase } from './test-database.js';
import pg from 'pg';
import type { Runtime } from '../../worker/runtime/runtime.js';
import type { WorkerService } from '../../worker/service.js';
import { buildWorker } from '../../worker/build.js';
import type { WorkerContext } from '../../worker/context.js';
import type { EnvironmentRouter } from '../../api/router/router.js';
import { resolveLocalhostSubdomains } from './localhost-dns.js';
import { startInternalServer } from '../../worker/internal-http.js';
import { workerInternalSecret } from '../../core/platform/internal-secret.js';
import { WorkerClient } from '../../api/worker-client.js';
import { serveWorkerMetrics } from '../../worker/metrics.js';
import type { DestinationStream } from 'pino';
import type { Principal } from '../../core/domain/principal.js';
import { ResponseCheck } from './response-check.js';

export const TOKEN = 'test-secret-0123456789';
export const AUTH = { Authorization: `Bearer ${TOKEN}` };
/** The test token's principal (team `default`), for tests that call the application service directly. */
export const TEST_ACTOR: Principal = { name: 'test', kind: 'token', team: 'default', admin: false };

export interface Harness {
  config: Config;
  /** The variables the config was loaded from: a worker process spawned with them joins this harness. */
  configEnv: Record<string, string>;
  /** The worker's internal secret (made in this harness's own MAYFLY_STATE_DIR, a temporary folder). */
  internalSecret: string;
  baseUrl: string;
  /** The router's listener (environments at http://<name>.localhost:<port>). */
  routerPort: number;
  router: EnvironmentRouter;
  pool: pg.Pool;
  store: EnvironmentStore;
  queues: JobQueues;
  docker: Docker;
  runtime: Runtime;
  worker: WorkerService | undefined;
  ctx: WorkerContext;
  /** The worker's /metrics, served as worker/main.ts serves it (on 127.0.0.1, port 0 here). */
  workerMetricsUrl: string;
  /** The web app itself (its router stack is what the OpenAPI test walks). */
  app: ReturnType<typeof createApp>;
  /** Every REST v1 answer checked against its declared schema; close() fails when one did not match. */
  responses: ResponseCheck;
  startWorker(): Promise<void>;
  stopWorker(): Promise<void>;
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

/**
 * @param opts.adminUrl a PostgreSQL server other than the shared one (a fault test's private one)
 * in which the harness makes its database.
 */
export async function startHarness(opts: { env?: Record<string, string>; worker?: boolean; adminUrl?: string; logger?: Logger; logDestination?: DestinationStream } = {}): Promise<Harness> {
  const suffix = randomBytes(4).toString('hex');
  const database = await createTestDatabase('mayfly_test', opts.adminUrl);

  // Listen first, so that the config (and every link the API gives) names the real port.
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const routerServer: Server = createServer();
  await new Promise<void>((resolve) => routerServer.listen(0, '127.0.0.1', resolve));
  const routerPort = (routerServer.address() as AddressInfo).port;
  resolveLocalhostSubdomains();
  // Its own state directory: the worker's internal secret is made there, never in /var/lib/mayfly.
  const stateDir = mkdtempSync(path.join(tmpdir(), 'mayfly-state-'));
  const configEnv: Record<string, string> = {
    MAYFLY_STATE_DIR: stateDir,
    PORT: '0',
    MAYFLY_PUBLIC_URL: baseUrl,
    DATABASE_URL: database.url,
    MAYFLY_API_TOKENS: `test:${TOKEN},other:other-secret-0123456789`,
    MAYFLY_QUEUE_PREFIX: `mayflytest_${suffix}`,
    MAYFLY_INSTANCE: `test-${suffix}`,
    MAYFLY_RECONCILE_INTERVAL: '1s',
    MAYFLY_HEALTH_TIMEOUT: '90s',
    MAYFLY_ROUTER_PORT: String(routerPort),
    MAYFLY_DOMAIN: 'localhost',
    // A worker spawned as its own process (fault tests) must not take fixed ports: off, or any free one.
    MAYFLY_WORKER_METRICS_PORT: '0',
    MAYFLY_WORKER_INTERNAL_PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...opts.env,
  };
  const config = loadConfig({ ...process.env, ...configEnv });
  const logger = opts.logger ?? createLogger(config.logLevel, 'mayfly-test', opts.logDestination ? { destination: opts.logDestination } : {});
  // An idle client's connection lost (a test that restarts PostgreSQL) is reported by the next query.
  const pool = await openDatabase(config.databaseUrl, logger, { size: 10, onIdleError: () => undefined });
  // A fault test may point the harness at a private Docker daemon (DOCKER_HOST=unix:///...).
  const docker = config.dockerHost?.startsWith('unix://') ? new Docker({ socketPath: config.dockerHost.slice('unix://'.length) }) : new Docker();
  // Both processes as their main.ts builds them (worker/build.ts, api/build.ts), sharing this pool.
  const built = await buildWorker({ config, logger, pool });
  const { ctx } = built;
  const runtime = ctx.runtime;
  // The worker's internal endpoint (service state, logs) on port 0; the app is given its address.
  const internalSecret = workerInternalSecret(config.web);
  const internal = await startInternalServer(ctx, { port: 0, secret: internalSecret });
  const web = await buildWeb({ config, logger, pool, worker: new WorkerClient(internal.url, internalSecret) });
  const { app, router, queues } = web;
  const store = web.services.store;
  const responses = new ResponseCheck();
  server.on('request', responses.wrap(app));
  const workerMetrics = await serveWorkerMetrics(ctx.metrics.registry, { port: 0 });

  router.attach(routerServer);

  const h: Harness = {
    config, configEnv, internalSecret, baseUrl, routerPort, router, pool, store, queues, docker, runtime, ctx, worker: undefined, workerMetricsUrl: workerMetrics.url, app, responses,
    async startWorker() {
      h.worker = built.consumers();
      await h.worker.start();
    },
    async stopWorker() {
      await h.worker?.close();
      h.worker = undefined;
    },
    async api(method, path, body, headers = AUTH) {
      const res = await fetch(`${baseUrl}${path}`, {
        method,
        headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try { parsed = JSON.parse(text); } catch { /* not JSON */ }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    async close() {
      // Leave nothing behind: tear down whatever this harness's environments still own.
      await h.stopWorker().catch(() => undefined);
      const { rows } = await pool.query<{ id: string }>('SELECT id FROM environments');
      for (const r of rows) await runtime.remove(r.id).catch(() => undefined);
      // Golden snapshots (and anything else) made by this harness's instance.
      const { Volumes } = await docker.listVolumes({ filters: { label: [`mayfly.instance=${config.instance}`] } });
      for (const v of Volumes ?? []) await docker.getVolume(v.Name).remove().catch(() => undefined);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      routerServer.closeAllConnections();
      await new Promise((resolve) => routerServer.close(resolve));
      await router.close().catch(() => undefined);
      await internal.close();
      await new Promise((resolve) => workerMetrics.server.close(resolve));
      await queues.provision.obliterate({ force: true }).catch(() => undefined);
      await queues.lifecycle.obliterate({ force: true }).catch(() => undefined);
      for (const step of [...web.closeSteps, ...built.closeSteps]) await step.close().catch(() => undefined);
      await pool.end();
      rmSync(stateDir, { recursive: true, force: true });
      await database.drop();
      // Last, once everything is cleaned up: an answer that broke its declaration fails the file.
      responses.assertNone();
    },
  };
  if (opts.worker !== false) await h.startWorker();
  return h;
}

/** Every Docker object labeled with this environment id. */
export async function labeledObjects(docker: Docker, envId: string) {
  const filters = { label: [`mayfly.env=${envId}`] };
  const [containers, networks, volumes] = await Promise.all([
    docker.listContainers({ all: true, filters }),
    docker.listNetworks({ filters }),
    docker.listVolumes({ filters }),
  ]);
  return { containers: containers.length, networks: networks.length, volumes: (volumes.Volumes ?? []).length };
}

/** The names of an environment's data volumes (role label 'data'), whatever the clone strategy's layout. */
export async function dataVolumes(docker: Docker, envId: string): Promise<string[]> {
  const { Volumes } = await docker.listVolumes({ filters: { label: [`mayfly.env=${envId}`, 'mayfly.role=data'] } });
  return (Volumes ?? []).map((v) => v.Name).sort();
}

export async function waitUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

/**
 * The answer to a request that starts work on environment `name` (200 or 202), followed until the
 * environment is ready: more `?wait=120` reads while it is on its way; anything but ready fails
 * the test with its failure and the end of its timeline.
 */
export async function settledReady(h: Harness, name: string, res: { status: number; body: any }, headers: Record<string, string> = AUTH): Promise<any> {
  assert.ok([200, 202].includes(res.status), JSON.stringify(res.body));
  let body = res.body;
  for (let i = 0; i < 4 && !['ready', 'failed'].includes(body.status); i++) body = (await h.api('GET', `/api/v1/environments/${name}?wait=120`, undefined, headers)).body;
  if (body.status !== 'ready') assert.fail(`${name} is ${body.status}: ${JSON.stringify(body.failure)}\n${(await h.store.events(body.id)).slice(-15).map((e) => `${e.type}: ${e.message}`).join('\n')}`);
  return body;
}
