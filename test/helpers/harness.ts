/**
 * Starts Mayfly's web app and worker in this process against the real engines that
 * `npm test` started (Docker, Redis, PostgreSQL, the registry). Each harness gets its own
 * PostgreSQL database and BullMQ prefix, so test files run side by side without sharing state.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import Docker from 'dockerode';
import pg from 'pg';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../core/config.js';
import { createLogger } from '../../core/log.js';
import { JobQueues } from '../../core/queue.js';
import { redisOptions } from '../../core/redis.js';
import { migrate } from '../../core/store/migrations.js';
import { EnvironmentStore } from '../../core/store/environments.js';
import { TemplateCatalog } from '../../core/templates.js';
import { createApp } from '../../api/app.js';
import { DockerRuntime } from '../../worker/runtime/docker/docker-runtime.js';
import { WorkerService } from '../../worker/service.js';
import { buildWorkerContext } from '../../worker/compose.js';
import type { WorkerContext } from '../../worker/context.js';

export const TOKEN = 'test-secret-0123456789';
export const AUTH = { Authorization: `Bearer ${TOKEN}` };
const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://mayfly:mayfly@127.0.0.1:5432/mayfly';

export interface Harness {
  config: Config;
  baseUrl: string;
  pool: pg.Pool;
  store: EnvironmentStore;
  queues: JobQueues;
  docker: Docker;
  runtime: DockerRuntime;
  worker: WorkerService | undefined;
  ctx: WorkerContext;
  startWorker(): Promise<void>;
  stopWorker(): Promise<void>;
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

export async function startHarness(opts: { env?: Record<string, string>; worker?: boolean } = {}): Promise<Harness> {
  const suffix = randomBytes(4).toString('hex');
  const dbName = `mayfly_test_${suffix}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  const dbUrl = new URL(ADMIN_URL);
  dbUrl.pathname = `/${dbName}`;

  // Listen first, so that the config (and every link the API gives) names the real port.
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const config = loadConfig({
    ...process.env,
    PORT: '0',
    MAYFLY_PUBLIC_URL: baseUrl,
    DATABASE_URL: dbUrl.toString(),
    MAYFLY_API_TOKENS: `test:${TOKEN},other:other-secret-0123456789`,
    MAYFLY_QUEUE_PREFIX: `mayflytest_${suffix}`,
    MAYFLY_INSTANCE: `test-${suffix}`,
    MAYFLY_RECONCILE_INTERVAL: '1s',
    MAYFLY_HEALTH_TIMEOUT: '90s',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...opts.env,
  });
  const logger = createLogger(config.logLevel, 'mayfly-test');
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 10 });
  await migrate(pool);
  const catalog = await TemplateCatalog.load(config.templatesDir, config.registry, config.defaultLimits);
  const store = new EnvironmentStore(pool);
  const queues = new JobQueues(redisOptions(config.redisUrl, 'producer'), config.queuePrefix);
  const redis = new Redis(redisOptions(config.redisUrl, 'producer'));
  redis.on('error', () => undefined); // a test may stop its own Redis; /readyz reports it
  const docker = new Docker();
  const ctx: WorkerContext = await buildWorkerContext(config, pool, docker, queues, logger);
  const runtime = ctx.runtime as DockerRuntime;
  const notifications = ctx.notifications;

  const app = createApp({
    config, store, queues, catalog, logger, notifications, datasets: ctx.datasets, snapshots: ctx.snapshots, admission: ctx.admission,
    probes: { postgres: async () => { await pool.query('SELECT 1'); }, redis: async () => { await redis.ping(); } },
  });
  server.on('request', app);

  const h: Harness = {
    config, baseUrl, pool, store, queues, docker, runtime, ctx, worker: undefined,
    async startWorker() {
      h.worker = new WorkerService(ctx, redisOptions(config.redisUrl, 'worker'));
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
      await new Promise((resolve) => server.close(resolve));
      await queues.provision.obliterate({ force: true }).catch(() => undefined);
      await queues.lifecycle.obliterate({ force: true }).catch(() => undefined);
      await queues.close().catch(() => undefined);
      redis.disconnect();
      await pool.end();
      const admin2 = new pg.Client({ connectionString: ADMIN_URL });
      await admin2.connect();
      await admin2.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await admin2.end();
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
