/**
 * The worker's context over a FakeRuntime, for unit tests of what its jobs decide: a real
 * PostgreSQL database of its own (the store, admission, fencing), a real Redis queue prefix of its
 * own, the real template catalog and datasets; only the container engine is faked, behind our
 * own ports.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Job } from 'bullmq';
import { loadConfig, type Config } from '../../core/config/config.js';
import type { Environment } from '../../core/domain/environment.js';
import { createLogger } from '../../core/platform/log.js';
import { provisionJobId, type ProvisionJobData } from '../../core/queue/jobs.js';
import { buildWorker } from '../../worker/build.js';
import { openDatabase } from '../../core/store/pool.js';
import { createTestDatabase } from './test-database.js';
import type { WorkerContext } from '../../worker/context.js';
import { provisionHandler } from '../../worker/jobs/provision.js';
import { FakeRuntime } from './fake-runtime.js';


export interface FakeWorker {
  config: Config;
  ctx: WorkerContext;
  fake: FakeRuntime;
  pool: pg.Pool;
  /** Asks for an environment of the shop template (as a door would), queued at generation 1. */
  create(name: string, opts?: { seed?: string | null }): Promise<Environment>;
  /** The provisioning job of an environment's generation, as the queue holds it (queued now when it is not). */
  job(env: Pick<Environment, 'id' | 'generation'>): Promise<Job<ProvisionJobData>>;
  /** Runs one provisioning job run, as a worker that picked the job would. */
  provision(env: Pick<Environment, 'id' | 'generation'>, job?: Job<ProvisionJobData>): Promise<string>;
  get(id: string): Promise<Environment>;
  /** As if the environment had been in its status for a minute (the reconciler leaves fresh moves alone). */
  settle(id: string): Promise<void>;
  /** The event types of an environment's timeline, oldest first. */
  events(id: string): Promise<string[]>;
  /** Whether a run resumed its provisioning (a run that took the job over from one that stopped). */
  resumed(id: string): Promise<boolean>;
  close(): Promise<void>;
}

export async function startFakeWorker(env: Record<string, string> = {}): Promise<FakeWorker> {
  const suffix = randomBytes(4).toString('hex');
  const database = await createTestDatabase('mayfly_unit');
  const config = loadConfig({
    ...process.env, DATABASE_URL: database.url, MAYFLY_QUEUE_PREFIX: `mayflyunit_${suffix}`, MAYFLY_INSTANCE: `unit-${suffix}`,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', ...env,
  });
  const logger = createLogger(config.logLevel, 'mayfly-unit');
  const pool = await openDatabase(config.databaseUrl, logger, { size: 5 });
  const fake = new FakeRuntime(config.instance);
  // The worker as worker/main.ts builds it, over the fake engine; its consumers are never started.
  const { ctx, queues } = await buildWorker({ config, logger, pool, engine: { runtime: fake, snapshotEngine: fake.snapshotEngine } });
  const w: FakeWorker = {
    config, ctx, fake, pool,
    async create(name, opts = {}) {
      const created = await ctx.store.create({
        name, template: 'shop', owner: 'tester', seed: opts.seed === undefined ? 'demo' : opts.seed, ttlSeconds: 3600,
        images: { web: `${config.registry}/mayfly/shop:main`, db: `${config.registry}/mayfly/postgres:15` },
      });
      if (!created) throw new Error(`an environment named ${name} exists already`);
      // As a door does: the lease's expiry is scheduled with the request (the provisioning job is queued by job()).
      await queues.scheduleExpiry(created.id, created.expiresAt);
      return created;
    },
    async job(e) {
      const existing = await queues.provision.getJob(provisionJobId(e.id, e.generation));
      if (existing) return existing as Job<ProvisionJobData>;
      await queues.enqueueProvision(e.id, e.generation);
      return (await queues.provision.getJob(provisionJobId(e.id, e.generation))) as Job<ProvisionJobData>;
    },
    async provision(e, job) {
      return provisionHandler(ctx)(job ?? await w.job(e));
    },
    async get(id) {
      return (await ctx.store.getById(id))!;
    },
    async settle(id) {
      await pool.query(`UPDATE environments SET updated_at = now() - interval '1 minute' WHERE id = $1`, [id]);
    },
    async events(id) {
      return (await ctx.store.events(id)).map((e) => e.type);
    },
    async resumed(id) {
      return (await ctx.store.events(id)).some((e) => e.type === 'provisioning' && /resumed/.test(e.message));
    },
    async close() {
      await queues.provision.obliterate({ force: true }).catch(() => undefined);
      await queues.lifecycle.obliterate({ force: true }).catch(() => undefined);
      await queues.close().catch(() => undefined);
      await pool.end();
      await database.drop();
    },
  };
  return w;
}
