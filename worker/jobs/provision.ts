import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { failEnvironment } from './fail.js';
import { MayflyError, PermanentFailure, StackError, errorMessage } from '../../core/domain/errors.js';
import type { Environment } from '../../core/domain/environment.js';
import type { ProvisionJobData } from '../../core/queue/jobs.js';
import type { WorkerContext } from '../context.js';
import type { EnvironmentRef, ServiceState, UpTimings } from '../runtime/runtime.js';
import { loadSeed } from '../seeds/load-seed.js';
import { publicUrls } from '../../core/doors/addresses.js';
import { Fence, StoodDown, logStoodDown } from './fence.js';
import { takeCheckpoint } from './checkpoints.js';
import type { DataSource } from '../seeds/seed-service.js';
import { CAPSULE_ID } from '../../core/store/capsules.js';

/** What this module uses of the worker's context (narrow: a test gives it only these). */
type Deps = Pick<WorkerContext, 'admission' | 'catalog' | 'config' | 'datasets' | 'environments' | 'logger' | 'metrics' | 'queues' | 'runtime' | 'seeds' | 'store' | 'checkpoints' | 'capsules'>;

/**
 * Provision one generation of an environment: render and validate its stack, pull its images
 * (recording digests), start its services in dependency order, wait for health, seed its
 * database, publish its URLs. Every step is idempotent, so a retried or resumed job converges.
 *
 * Each run claims the environment (fence.ts) and proves it still owns it before each step that
 * changes the engine: a run that outlived its queue lock while another worker took the job over,
 * or whose environment was destroyed or redeployed meanwhile, stands down without touching
 * anything, writing nothing to the timeline, and without a retry.
 */
export function provisionHandler(ctx: Deps) {
  return async (job: Job<ProvisionJobData>, token?: string): Promise<string> => {
    const { environmentId, generation } = job.data;
    const log = ctx.logger.child({ envId: environmentId, generation, jobId: job.id });
    // Queue wait once per deploy: a retry's wait is backoff, not queueing.
    const queueWaitMs = job.attemptsMade === 0 ? Math.max(0, (job.processedOn ?? Date.now()) - job.timestamp) : undefined;
    let env = await ctx.store.getById(environmentId);
    if (!env || env.generation !== generation) return 'superseded';
    const resumed = env.status === 'provisioning';
    if (env.status === 'queued') {
      // Admission takes capacity (or says why not) in the same transaction that starts it.
      const start = await ctx.admission.tryStart(env.id, generation, `provisioning started (attempt ${job.attemptsMade + 1})`);
      if (start.outcome === 'waiting') {
        // Wait in line without a busy loop: the job sleeps as a delayed job; a teardown or a
        // failure elsewhere (or the reconciler) promotes it when capacity frees.
        log.info({ position: start.place.position, reason: start.place.reason }, 'waiting for capacity');
        await job.moveToDelayed(Date.now() + ctx.config.admission.recheckMs, token);
        throw new DelayedError();
      }
      if (start.outcome === 'not-queued') return 'superseded';
    } else if (env.status !== 'provisioning') {
      return `skipped: status ${env.status}`;
    }
    // A run claims only while it holds the job's queue lock: one that was paused past it (before
    // its claim) would otherwise take the environment from the run that holds the lock now.
    // Redis not answering is not a "no" (the lock may well be ours): only a definite one is.
    if (token && (await job.extendLock(token, ctx.config.jobLockMs).catch(() => undefined)) === 0) {
      logStoodDown(log, { envId: env.id, generation }, new StoodDown('claim the environment', 'this run lost the job\'s queue lock'), 'provisioning');
      return 'stood down';
    }
    // This run's claim: any earlier run of this job (a worker that lost its lock) is stale from here on.
    const claimed = await Fence.claim(ctx.store, env.id, generation, ['provisioning']);
    if (!claimed) return 'superseded';
    const { fence } = claimed;
    env = claimed.env;

    try {
      if (resumed) await fence.event('provisioning', `provisioning resumed (attempt ${job.attemptsMade + 1})`);
      if (queueWaitMs !== undefined) ctx.metrics.observePhase('queue_wait', env.template, queueWaitMs);
      const result = await provision(ctx, env, fence, log, queueWaitMs);
      ctx.metrics.observeProvision(env.template, 'ready', Date.now() - job.timestamp);
      return result;
    } catch (err) {
      try {
        // A failure of a run that lost the environment meanwhile (often because of it: a volume
        // another run's container uses) is not this run's to report, retry or fail.
        const stood = err instanceof StoodDown ? err : await fence.lost(`handle a failure (${errorMessage(err)})`);
        if (stood) throw stood;
        const permanent = err instanceof PermanentFailure || err instanceof StackError;
        const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
        if (!permanent && !lastAttempt) {
          log.warn({ err }, 'provisioning attempt failed; retrying');
          await fence.event('retry', `attempt ${job.attemptsMade + 1} failed, retrying: ${errorMessage(err)}`);
          throw err;
        }
        ctx.metrics.observeProvision(env.template, 'failed', Date.now() - job.timestamp);
        if (!(await fail(ctx, env, fence, err, log))) throw (await fence.lost('fail the environment')) ?? err;
        throw new UnrecoverableError(errorMessage(err));
      } catch (final) {
        if (!(final instanceof StoodDown)) throw final;
        fence.logStoodDown(log, final, 'provisioning');
        return 'stood down';
      }
    }
  };
}

async function provision(ctx: Deps, env: Environment, fence: Fence, log: WorkerContext['logger'], queueWaitMs?: number): Promise<string> {
  const started = Date.now();
  const template = ctx.catalog.get(env.template);
  const ref: EnvironmentRef = { id: env.id, project: env.project, generation: env.generation, ...(env.node ? { node: env.node } : {}) };
  const stack = ctx.catalog.render(env.template, { env: { id: env.id, name: env.name, project: env.project }, images: env.images });

  // A redeploy, reset or rewind keeps what the database held first: the checkpoints recorded
  // with it (docs/data-workflows.md), taken while the old containers still run. One that fails
  // is recorded and does not stop the deploy.
  for (const cp of await ctx.checkpoints.pending(env.id, env.generation)) {
    await fence.check(`take checkpoint ${cp.id}`);
    await takeCheckpoint(ctx, env, cp, fence.token);
  }

  // Pull every image first (distinct images at once): nothing starts from an image that failed to pull.
  const digests: Record<string, string> = {};
  const pullStarted = Date.now();
  const pulled = new Map<string, string>();
  await Promise.all([...new Set(stack.services.map((s) => s.image))].map(async (image) => {
    // Layers and bytes reach the timeline (and so the page) about once a second while it pulls.
    const { digest } = await ctx.runtime.pull(image, (m, data) => {
      log.debug({ ...data }, m);
      if (data?.step === 'pull') void ctx.store.addEvent(env.id, 'progress', m, data, fence.token).catch(() => undefined);
    });
    pulled.set(image, digest);
    await fence.event('pulled', `pulled ${image}`, { image, digest });
  }));
  for (const svc of stack.services) digests[svc.name] = pulled.get(svc.image)!;
  const pullMs = Date.now() - pullStarted;

  // The database gets its seed before it starts: a clone of the golden snapshot (or, with the
  // restore strategy, a load after it is healthy).
  const cloneStarted = Date.now();
  // The network is made while the clone runs; up() converges it either way.
  const network = fence.check('create the network').then(() => ctx.runtime.prepareNetwork(ref)).then(() => undefined, (err: unknown) => err);
  const prepared = template.database
    ? await ctx.seeds.prepare(env, template, stack, ref, digests[template.database.service] ?? '',
      async (key, strategy) => fence.wrote('record the snapshot', await ctx.store.setSnapshot(env.id, key, strategy, fence.token)),
      (step) => fence.check(step), await dataSource(ctx, env)).finally(() => network)
    : { kind: 'none' as const };
  const cloneMs = Date.now() - cloneStarted;
  const networkError = await network;
  if (networkError) throw networkError;
  if (prepared.kind === 'cloned') {
    await fence.wrote('mark the database seeded', await ctx.store.markSeeded(env.id, env.generation, fence.token));
    if (prepared.from === 'checkpoint') {
      await fence.event('rewound', `database rewound to checkpoint ${prepared.key} (${prepared.strategy} copy ${prepared.via === 'host' ? 'on the host' : 'in a helper container'} in ${prepared.ms} ms)`,
        { checkpoint: prepared.key, strategy: prepared.strategy, via: prepared.via, ms: prepared.ms });
    } else if (prepared.from === 'capsule') {
      await fence.event('restored', `database restored from bug capsule ${prepared.key} (${prepared.strategy} copy ${prepared.via === 'host' ? 'on the host' : 'in a helper container'} in ${prepared.ms} ms)`,
        { capsule: prepared.key, strategy: prepared.strategy, via: prepared.via, ms: prepared.ms });
    } else if (prepared.from === 'fork') {
      await fence.event('cloned', `database copied from the parent environment's current database (${prepared.strategy}, the parent paused ${prepared.pauseMs ?? 0} ms) in ${prepared.ms} ms`,
        { strategy: prepared.strategy, via: prepared.via, from: 'fork', parentId: env.parentId, pauseMs: prepared.pauseMs, ms: prepared.ms });
    } else await fence.event('cloned', `database cloned from the "${env.seed}" snapshot by ${prepared.strategy} ${prepared.via === 'host' ? 'on the host' : 'in a helper container'} in ${prepared.ms} ms${prepared.builtGolden ? ' (golden built first)' : ''}`,
      { strategy: prepared.strategy, via: prepared.via, snapshot: prepared.key, ms: prepared.ms, builtGolden: prepared.builtGolden });
  }

  // A health wait can outlast the queue lock: the run is dropped at once when it loses the environment.
  const abort = new AbortController();
  const watch = setInterval(() => {
    fence.lost('wait for health').then((lost) => { if (lost) abort.abort(lost); }, () => undefined);
  }, 1000);
  let states: ServiceState[];
  const upTimings: UpTimings = { networkMs: 0, createMs: 0, startMs: 0, healthyMs: 0 };
  const startStarted = Date.now();
  // `start` runs until the last container is started (waiting on its dependencies); `health` from then to all healthy.
  let lastStartedAt = startStarted;
  try {
    states = await ctx.runtime.up(ref, stack, {
      healthTimeoutMs: ctx.config.healthTimeoutMs,
      signal: abort.signal,
      timings: upTimings,
      guard: (step) => fence.check(step),
      onProgress: (message, data) => {
        if (data?.step === 'started') lastStartedAt = Date.now();
        log.info({ ...data }, message);
        void ctx.store.addEvent(env.id, 'progress', message, data, fence.token).catch(() => undefined);
      },
    });
  } catch (err) {
    if ((err as MayflyError).code === 'ABORTED') throw abort.signal.reason instanceof StoodDown ? abort.signal.reason : await fence.lost('wait for health') ?? err;
    throw err;
  } finally {
    clearInterval(watch);
  }
  const startMs = Date.now() - startStarted;
  const upDone = Date.now();

  let seedMs = 0;
  if (prepared.kind === 'restore' && env.seed) {
    await fence.check('restore the seed into the database');
    const seeded = await loadSeed(ctx.runtime, ref, template, ctx.datasets, env.seed);
    seedMs = seeded.ms;
    await fence.wrote('record the snapshot', await ctx.store.setSnapshot(env.id, null, 'restore', fence.token));
    await fence.wrote('mark the database seeded', await ctx.store.markSeeded(env.id, env.generation, fence.token));
    await fence.event('seeded', `dataset "${env.seed}" restored (${seeded.files.length} file(s), ${seeded.bytes} bytes, ${seeded.ms} ms)`, { ...seeded });
  }

  const publishStarted = Date.now();
  const endpoints = endpointsOf(states, template.entryService);
  const dbNode = template.database ? states.find((s) => s.service === template.database!.service)?.node : undefined;
  const urls = publicUrls(ctx.config.router, ctx.config.publicHost, env.name, template.entryService, endpoints);
  // Per phase, for the timeline and the benchmarks (bench/e2e reads them from the ready event):
  // queue wait, pull, clone, then up()'s network, create, start and healthy, the seed restore
  // (restore strategy only), and publish (URLs and the move to ready, measured to just before it).
  const timings = {
    ...(queueWaitMs !== undefined ? { queueWaitMs } : {}),
    pullMs, cloneMs, ...upTimings, upMs: startMs, seedMs,
    publishMs: 0, totalMs: 0,
  };
  timings.publishMs = Date.now() - publishStarted;
  timings.totalMs = Date.now() - started;
  const ready = await ctx.store.transition(env.id, 'ready', {
    generation: env.generation,
    from: ['provisioning'],
    fence: fence.token,
    // Where its database really runs (a multi-node runtime): per-node admission counts it there.
    set: { digests, urls, endpoints, ready_at: new Date(), ...(dbNode && dbNode !== env.node ? { node: dbNode } : {}) },
    event: { type: 'ready', message: `ready${urls[template.entryService] ? ` at ${urls[template.entryService]}` : ''} (${(timings.totalMs / 1000).toFixed(1)} s)`, data: { urls, digests, timings } },
  });
  if (!ready) await fence.wrote('record ready', false);
  // Phases of deploys that became ready only: a superseded one's times describe nothing the user got.
  ctx.metrics.observePhase('pull', env.template, pullMs);
  if (prepared.kind === 'cloned') ctx.metrics.observePhase('clone', env.template, cloneMs);
  ctx.metrics.observePhase('start', env.template, lastStartedAt - startStarted);
  ctx.metrics.observePhase('health', env.template, upDone - lastStartedAt);
  ctx.metrics.observePhase('network', env.template, upTimings.networkMs);
  ctx.metrics.observePhase('create', env.template, upTimings.createMs);
  ctx.metrics.observePhase('publish', env.template, Date.now() - publishStarted);
  if (seedMs) ctx.metrics.observePhase('seed', env.template, seedMs);
  log.info({ urls, timings }, 'environment ready');
  return 'ready';
}

/**
 * Where this provisioning takes the database from, when not from the seed: a rewind's checkpoint,
 * or (a fork's first generation) the parent's live database. The parent must still be there.
 */
async function dataSource(ctx: Pick<WorkerContext, 'capsules' | 'checkpoints' | 'store'>, env: Environment): Promise<DataSource | undefined> {
  if (env.seededAt) return undefined; // its database is in place (a redeploy keeps it)
  if (env.restoreFrom && CAPSULE_ID.test(env.restoreFrom)) {
    // A new environment brought up from a bug capsule: its database is the capsule's copy.
    const capsule = await ctx.capsules.get(env.restoreFrom);
    if (!capsule || capsule.status !== 'ready') {
      throw new PermanentFailure('CAPSULE_MISSING', `bug capsule ${env.restoreFrom} is ${capsule?.status ?? 'gone'}; destroy ${env.name} and restore another capsule (GET /api/v1/environments/<name>/capsules lists them)`);
    }
    return { kind: 'capsule', id: capsule.id, volume: capsule.volume };
  }
  if (env.restoreFrom) {
    const cp = await ctx.checkpoints.get(env.restoreFrom);
    if (!cp || cp.environmentId !== env.id || cp.status !== 'ready') {
      throw new PermanentFailure('CHECKPOINT_MISSING', `checkpoint ${env.restoreFrom} of ${env.name} is ${cp?.status ?? 'gone'}; rewind to another one (GET /api/v1/environments/${env.name}/checkpoints) or reset the database to its seed`);
    }
    return { kind: 'checkpoint', id: cp.id, volume: cp.volume };
  }
  if (env.parentId && env.generation === 1) {
    const parent = await ctx.store.getById(env.parentId);
    if (!parent || parent.status === 'destroyed' || parent.status === 'destroying') {
      throw new PermanentFailure('PARENT_GONE', `the environment ${env.name} was forked from is ${parent?.status ?? 'gone'}; its database cannot be copied`);
    }
    return { kind: 'fork', parent: { id: parent.id, project: parent.project, generation: parent.generation }, parentName: parent.name, snapshotKey: parent.snapshotKey };
  }
  return undefined;
}

/**
 * Internal targets of the router: each service's first published port (by container port) on
 * 127.0.0.1, or on the node that runs it (swarm), the entry service first. Host ports change
 * whenever containers start again.
 */
export function endpointsOf(states: ServiceState[], entryService: string): Record<string, string> {
  const endpoints: Record<string, string> = {};
  const ordered = [...states].sort((a, b) => (a.service === entryService ? -1 : b.service === entryService ? 1 : 0));
  for (const s of ordered) {
    const port = Object.entries(s.ports).sort(([a], [b]) => a.localeCompare(b))[0];
    if (port) endpoints[s.service] = `${s.host ?? '127.0.0.1'}:${port[1]}`;
  }
  return endpoints;
}

async function fail(ctx: Deps, env: Environment, fence: Fence, err: unknown, log: WorkerContext['logger']): Promise<boolean> {
  const code = err instanceof MayflyError ? err.code : 'PROVISION_FAILED';
  const details = err instanceof MayflyError ? err.details : undefined;
  return failEnvironment(ctx, env, {
    from: 'provisioning', code, message: errorMessage(err), cause: err,
    ...(details && typeof details === 'object' ? { data: details as Record<string, unknown> } : {}),
  }, log, fence.token);
}
