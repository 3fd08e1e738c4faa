import { UnrecoverableError, type Job } from 'bullmq';
import { publicUrls } from '../../core/doors/addresses.js';
import { MayflyError, errorMessage } from '../../core/domain/errors.js';
import { sleepJobId, type SleepJobData } from '../../core/queue/jobs.js';
import type { WorkerContext } from '../context.js';
import { endpointsOf } from './provision.js';
import { failEnvironment } from './fail.js';

/** What this module uses of the worker's context (narrow: a test gives it only these). */
type Deps = Pick<WorkerContext, 'admission' | 'catalog' | 'config' | 'environments' | 'logger' | 'queues' | 'runtime' | 'store'>;

/**
 * Sleep when idle (opt-in per template, `sleep: { after: 30m }`): the reconciler queues a sleep
 * for a ready environment without traffic through the router for that long; the router queues a
 * wake when a request finds one asleep. Sleeping stops containers only: the network, the volumes
 * (its data) and the lease stay, so expiry and teardown work as for a ready environment.
 */

/** Moves an idle ready environment to sleeping (the guard re-checks it is still idle), then stops its containers. */
export function sleepHandler(ctx: Deps) {
  return async (job: Job<SleepJobData>): Promise<string> => {
    const env = await ctx.store.getById(job.data.environmentId);
    if (!env) return 'gone';
    const after = ctx.catalog.has(env.template) ? ctx.catalog.get(env.template).sleep?.afterSeconds : undefined;
    if (!after) return 'no sleep for its template';
    const log = ctx.logger.child({ envId: env.id, jobId: job.id });
    if (env.status === 'ready') {
      // Status first, under the idle guard: from here on the router answers "waking" instead
      // of proxying to containers that are about to stop, and traffic since the check wins.
      const moved = await ctx.store.transition(env.id, 'sleeping', {
        generation: env.generation, from: ['ready'], idleSeconds: after,
        event: { type: 'sleeping', message: `no traffic for ${after} s: going to sleep (containers stop, data kept)`, data: { idleSeconds: after } },
      });
      if (!moved) return 'not idle';
    } else if (env.status !== 'sleeping') {
      return `skipped: status ${env.status}`;
    }
    const started = Date.now();
    const stopped = await ctx.runtime.stop(env.id);
    const ms = Date.now() - started;
    await ctx.store.addEvent(env.id, 'slept', `asleep: stopped ${stopped} container(s) in ${ms} ms; volumes and network kept; the next request wakes it`, { stopped, ms });
    log.info({ stopped, ms }, 'environment asleep');
    return 'asleep';
  };
}

/** Starts a sleeping environment's containers, waits until healthy, publishes its new targets, back to ready. */
export function wakeHandler(ctx: Deps) {
  return async (job: Job<SleepJobData>): Promise<string> => {
    const env = await ctx.store.getById(job.data.environmentId);
    if (!env || env.status !== 'sleeping') return `skipped: ${env?.status ?? 'gone'}`;
    // A sleep still stopping containers would stop what this starts: wait for it (retried).
    const sleeping = await ctx.queues.lifecycle.getJob(sleepJobId(env.id));
    if (sleeping && (await sleeping.isActive())) throw new Error('its sleep is still stopping containers; retrying');
    const log = ctx.logger.child({ envId: env.id, jobId: job.id });
    const template = ctx.catalog.get(env.template);
    await ctx.store.addEvent(env.id, 'waking', `a request came in: waking (attempt ${job.attemptsMade + 1})`);
    const started = Date.now();
    const stack = ctx.catalog.render(env.template, { env: { id: env.id, name: env.name, project: env.project }, images: env.images });
    const abort = new AbortController();
    const watch = setInterval(() => {
      ctx.store.getById(env.id).then((now) => { if (!now || now.status !== 'sleeping' || now.generation !== env.generation) abort.abort(); }, () => undefined);
    }, 1000);
    try {
      const states = await ctx.runtime.start({ id: env.id, project: env.project, generation: env.generation }, stack, {
        healthTimeoutMs: ctx.config.healthTimeoutMs, signal: abort.signal,
        onProgress: (message, data) => log.info({ ...data }, message),
      });
      const endpoints = endpointsOf(states, template.entryService);
      const urls = publicUrls(ctx.config.router, ctx.config.publicHost, env.name, template.entryService, endpoints);
      const ms = Date.now() - started;
      const woke = await ctx.store.transition(env.id, 'ready', {
        generation: env.generation, from: ['sleeping'],
        set: { urls, endpoints, ready_at: new Date() },
        event: { type: 'woke', message: `awake: healthy again in ${(ms / 1000).toFixed(1)} s`, data: { ms, urls } },
      });
      if (!woke) return 'superseded';
      log.info({ ms }, 'environment awake');
      return 'awake';
    } catch (err) {
      if ((err as MayflyError).code === 'ABORTED') return 'superseded';
      const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (!lastAttempt) {
        await ctx.store.addEvent(env.id, 'retry', `waking failed, retrying: ${errorMessage(err)}`);
        throw err;
      }
      const code = err instanceof MayflyError ? err.code : 'WAKE_FAILED';
      await failEnvironment(ctx, env, { from: 'sleeping', code, message: `waking failed: ${errorMessage(err)}`, cause: err }, log);
      throw new UnrecoverableError(errorMessage(err));
    } finally {
      clearInterval(watch);
    }
  };
}
