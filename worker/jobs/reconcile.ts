import { expireJobId, provisionJobId, teardownJobId } from '../../core/queue/jobs.js';
import type { Environment } from '../../core/domain/environment.js';
import { errorMessage } from '../../core/domain/errors.js';
import { formatDuration } from '../../core/domain/duration.js';
import { failEnvironment } from './fail.js';
import { recordRemoval } from './seeds.js';
import { decideHeal } from './heal-policy.js';
import { liveJob, redeliverDataWork, type RedeliveryReport } from './redeliver.js';
import type { WorkerContext } from '../context.js';
import type { OwnedObjects, StrandedVolume } from '../runtime/runtime.js';

/** How often a provisioning environment whose job vanished is queued again before it fails. */
export const MAX_STUCK_RETRIES = 3;
/** Seconds an environment must have stayed in its status before the reconciler acts on it (lets a job start). */
const SETTLE_SECONDS = 5;
/** A stopped helper container older than this was left by a worker that died (its job removes it at once). */
const HELPER_GRACE_MS = 30_000;
/** A saved dataset deleted this long ago whose volume is still there: its removal job was lost or gave up. */
const DELETED_GRACE_MS = 30_000;
import { wakeWaiting } from '../admission.js';
import { publicUrls } from '../../core/doors/addresses.js';
import { endpointsOf } from './provision.js';

/** What this module uses of the worker's context (narrow: a test gives it only these). */
type Deps = Pick<WorkerContext, 'admission' | 'capsules' | 'catalog' | 'checkpoints' | 'config' | 'environments' | 'logger' | 'queues' | 'reconcileActions' | 'runtime' | 'savedDatasets' | 'seeds' | 'snapshots' | 'store'>;

export interface ReconcileReport extends RedeliveryReport {
  expired: number;
  requeued: number;
  stuckRetried: number;
  stuckFailed: number;
  teardownsRequeued: number;
  expiriesRescheduled: number;
  healed: number;
  healFailed: number;
  orphansRemoved: number;
  orphanErrors: number;
  helpersRemoved: number;
  /** Objects of ready environments left on nodes that no longer serve them (multi-node runtimes). */
  staleRemoved: number;
  /** Ready environments whose services answer on another node now: their recorded addresses updated. */
  endpointsMoved: number;
  /** Ready environments with a container left paused by a worker that died mid-copy: unpaused. */
  resumed: number;
  goldensRemoved: number;
  sleepsQueued: number;
}

/**
 * Converges Docker and Redis to what PostgreSQL says. Idempotent, run every few seconds; every
 * move is a guarded transition, so it cannot undo a worker's progress:
 * - expired leases are torn down (a lost delayed job cannot make an environment immortal);
 * - queued environments whose job Redis lost are queued again;
 * - provisioning environments with no live job (lost, or its worker died past BullMQ's stall
 *   limit) are queued again MAX_STUCK_RETRIES times per generation, then failed with a reason;
 * - destroying environments whose teardown job is gone are queued again;
 * - checkpoints and bug capsules left pending (and capsules left deleting) with no live job are
 *   queued again MAX_DATA_REDELIVERIES times, then failed with a reason; those whose environment
 *   is gone or failed are failed at once (redeliver.ts);
 * - every live lease's delayed expiry job is scheduled again when Redis lost it;
 * - ready environments whose containers vanished or exited are redeployed as a new generation,
 *   at most MAYFLY_HEALS_PER_WINDOW times within MAYFLY_HEAL_WINDOW, backing off between heals
 *   (heal-policy.ts), then failed keeping their data (fail.ts);
 * - Docker objects labeled with an environment of this instance that is not live are removed
 *   (containers, networks, volumes; "not found" is done; a failure is retried on the next run);
 *   of a failed one, its containers and networks (its data volumes stay until its lease ends
 *   when it was ever ready);
 * - helper containers (clones, golden builds) that a dead worker left stopped are removed;
 * - golden snapshots that nothing uses and a newer golden replaced are removed, and so are the
 *   volumes of deleted saved datasets whose removal job was lost or interrupted.
 * - on a multi-node runtime, a ready environment whose service the engine moved to another node
 *   (host-mode ports move with it) has its recorded endpoints and URLs updated, so the router follows;
 * - ready environments of a template with `sleep` that had no traffic for that long go to sleep;
 *   sleeping ones are live, so the orphan reaper leaves their stopped containers alone.
 */
export async function reconcile(ctx: Deps): Promise<ReconcileReport> {
  const report: ReconcileReport = {
    expired: 0, requeued: 0, stuckRetried: 0, stuckFailed: 0, teardownsRequeued: 0, expiriesRescheduled: 0,
    healed: 0, healFailed: 0, orphansRemoved: 0, orphanErrors: 0, helpersRemoved: 0, staleRemoved: 0, endpointsMoved: 0, resumed: 0, goldensRemoved: 0, sleepsQueued: 0,
    checkpointsRequeued: 0, checkpointsFailed: 0, capsulesRequeued: 0, capsulesFailed: 0, capsuleDeletesRequeued: 0, capsuleDeletesFinished: 0, capsuleDeletesFailed: 0,
  };
  const log = ctx.logger.child({ job: 'reconcile' });
  const actions = ctx.reconcileActions;

  for (const env of await ctx.store.expired()) {
    await ctx.environments.expire(env);
    report.expired++;
    actions.record('expired', env.id);
    log.info({ envId: env.id, name: env.name, expiresAt: env.expiresAt }, 'lease expired: teardown queued');
  }

  for (const env of await ctx.store.withStatus(['queued', 'provisioning'], SETTLE_SECONDS)) {
    if (await liveJob(ctx, provisionJobId(env.id, env.generation), 'provision')) continue;
    if (env.status === 'queued') {
      // Never started: nothing to bound, Redis simply lost it.
      await ctx.queues.enqueueProvision(env.id, env.generation);
      await ctx.store.addEvent(env.id, 'requeued', 'its provisioning job was lost; queued again', { generation: env.generation });
      report.requeued++;
      actions.record('requeued', env.id);
      log.warn({ envId: env.id, status: env.status }, 'provision job missing: queued again');
      continue;
    }
    const tries = await ctx.store.countEvents(env.id, 'requeued', env.generation);
    if (tries < MAX_STUCK_RETRIES) {
      await ctx.queues.enqueueProvision(env.id, env.generation);
      await ctx.store.addEvent(env.id, 'requeued', `provisioning had no live job (its worker died or Redis lost it); queued again (${tries + 1} of ${MAX_STUCK_RETRIES})`,
        { generation: env.generation, attempt: tries + 1 });
      report.stuckRetried++;
      actions.record('stuck-retried', env.id);
      log.warn({ envId: env.id, attempt: tries + 1 }, 'provisioning without a live job: queued again');
    } else {
      const failed = await failEnvironment(ctx, env, { from: 'provisioning', code: 'PROVISION_STUCK', data: { by: 'reconciler' },
        message: `provisioning stopped without finishing ${MAX_STUCK_RETRIES + 1} times (its worker died or its job was lost); giving up` }, log);
      if (failed) { report.stuckFailed++; actions.record('stuck-failed', env.id); }
    }
  }

  for (const env of await ctx.store.withStatus(['destroying'], SETTLE_SECONDS)) {
    if (await liveJob(ctx, teardownJobId(env.id), 'lifecycle')) continue;
    await ctx.queues.enqueueTeardown(env.id);
    report.teardownsRequeued++;
    actions.record('teardown-requeued', env.id);
    log.warn({ envId: env.id }, 'teardown job missing: queued again');
  }

  // Checkpoints and capsules recorded in PostgreSQL whose job Redis lost (or whose worker died).
  Object.assign(report, await redeliverDataWork(ctx, log));

  for (const template of ctx.catalog.list()) {
    if (!template.sleep) continue;
    for (const env of await ctx.store.idle(template.name, template.sleep.afterSeconds)) {
      await ctx.queues.enqueueSleep(env.id);
      report.sleepsQueued++;
    }
  }

  // Leases: the delayed expiry job lives in Redis; PostgreSQL's expires_at is the truth.
  for (const env of await ctx.store.withStatus(['queued', 'provisioning', 'ready', 'sleeping', 'failed'])) {
    if (env.expiresAt.getTime() <= Date.now()) continue; // the expired() pass above handles it
    const job = await ctx.queues.lifecycle.getJob(expireJobId(env.id, env.expiresAt.getTime()));
    if (job) continue;
    await ctx.queues.scheduleExpiry(env.id, env.expiresAt);
    report.expiriesRescheduled++;
    actions.record('expiry-rescheduled', env.id);
    log.info({ envId: env.id, expiresAt: env.expiresAt }, 'lease expiry job was missing: scheduled again');
  }

  // Read the ready environments before listing containers: a container list taken first could
  // miss the containers of an environment that became ready in between.
  const ready = await ctx.store.withStatus(['ready'], SETTLE_SECONDS);
  const owned = await ctx.runtime.listOwned();
  const healedIds = new Set<string>();
  for (const env of ready) {
    if (!brokenServices(ctx, env, owned).length) continue;
    // A save stops the database for its copy, holding the environment's save lock: not a loss.
    // Looked at again once no save holds it, so a save that ended after the listing is not one either.
    const broken = await ctx.snapshots.whenNotSaving(env.id, async () => {
      const now = await ctx.runtime.listOwned();
      // Paused with no save lock held: a copy's pause whose worker died (nothing else pauses). Unpaused, not redeployed.
      if (ctx.runtime.resumePaused && now.containers.some((c) => c.envId === env.id && c.state === 'paused')) {
        const services = await ctx.runtime.resumePaused(env.id);
        if (services.length) {
          await ctx.store.addEvent(env.id, 'resumed', `${services.join(', ')} unpaused: left paused by a copy (checkpoint, capsule or fork) whose worker stopped mid-way; its data is as it was`,
            { services, by: 'reconciler' });
          report.resumed++;
          actions.record('resumed', env.id);
          log.warn({ envId: env.id, services }, 'ready environment had containers left paused by a copy whose worker died: unpaused');
        }
        return brokenServices(ctx, env, await ctx.runtime.listOwned());
      }
      return brokenServices(ctx, env, now);
    });
    if (!broken?.length) continue;
    const { healWindowMs: windowMs, healsPerWindow: perWindow } = ctx.config;
    const history = await ctx.store.eventsSince(env.id, 'healing', new Date(Date.now() - windowMs));
    const decision = decideHeal({ recent: history.count, lastAt: history.lastAt }, Date.now(), windowMs, perWindow);
    const what = broken.map((b) => `${b.service} ${b.why}`).join(', ');
    const window = formatDuration(windowMs / 1000);
    if (decision.action === 'give-up') {
      const failed = await failEnvironment(ctx, env, { from: 'ready', code: 'SERVICE_VANISHED', data: { by: 'reconciler', broken },
        message: `${what}; healed ${history.count} times in the last ${window} already (MAYFLY_HEALS_PER_WINDOW), giving up` }, log);
      if (failed) { report.healFailed++; actions.record('heal-failed', env.id); }
      continue;
    }
    if (decision.action === 'wait') {
      // Backing off: the last heal is recent; the next run looks again.
      log.debug({ envId: env.id, broken, until: new Date(decision.untilMs) }, 'ready environment lost containers: waiting before the next heal');
      continue;
    }
    // On a multi-node runtime the data may sit on a node that takes no tasks (drained, lost): a
    // redeploy pinned there could never run, so the heal clones the seed afresh on another node.
    const stranded = (await ctx.runtime.strandedData?.(env.id)) ?? [];
    const reclone = stranded.length > 0 && !!env.seed;
    const how = strandedHow(env, stranded);
    const moved = await ctx.store.transition(env.id, 'queued', {
      generation: env.generation, from: ['ready'], bumpGeneration: true,
      set: { ready_at: null, ...(reclone ? { seeded_at: null } : {}) },
      event: { type: 'healing', message: `${what}${how}: redeploying${reclone ? ` with a fresh clone of "${env.seed}" on another node (changes made to its data since are not carried over)` : ''} (heal ${decision.attempt} of ${perWindow} within ${window})`,
        data: { broken, generation: env.generation + 1, heal: decision.attempt, ...(stranded.length ? { stranded, reclone } : {}) } },
    });
    if (!moved) continue; // someone else moved it first (destroy, redeploy)
    await ctx.queues.enqueueProvision(moved.id, moved.generation);
    report.healed++;
    actions.record('healed', env.id);
    healedIds.add(env.id);
    log.warn({ envId: env.id, broken, generation: moved.generation, ...(stranded.length ? { stranded, reclone } : {}) },
      reclone ? 'ready environment lost its database node: redeploying with a fresh clone elsewhere' : 'ready environment lost containers: redeploying');
  }

  const ids = [...new Set([...owned.containers, ...owned.networks, ...owned.volumes].map((o) => o.envId))]
    .filter((id) => /^[0-9a-f-]{36}$/.test(id));
  const live = await ctx.store.liveIds(ids);
  // A failed environment keeps its record but no containers or networks: its own cleanup may not
  // have finished. One that was ever ready keeps its data volumes until its lease ends (then the
  // expired pass above tears it down, volumes and all).
  const failed = new Set((await ctx.store.withStatus(['failed'])).map((e) => e.id));
  const keepsData = await ctx.store.everReady(ids.filter((id) => failed.has(id)));
  for (const id of ids) {
    if (live.has(id) && !failed.has(id)) continue;
    const keepData = keepsData.has(id);
    // Only its kept data is left: nothing to do (this runs every few seconds).
    if (keepData && !owned.containers.some((c) => c.envId === id) && !owned.networks.some((n) => n.envId === id)) continue;
    try {
      const removed = await ctx.runtime.remove(id, { keepData });
      const n = removed.containers + removed.networks + removed.volumes;
      report.orphansRemoved += n;
      actions.record('orphan-removed', id, n);
      if (n) log.warn({ envId: id, removed, failed: failed.has(id) }, failed.has(id) ? 'removed leftovers of a failed environment' : 'removed Docker objects of an environment that is not live');
    } catch (err) {
      // One stubborn object must not stop the rest; the next run tries again.
      report.orphanErrors++;
      actions.record('orphan-retry', id);
      log.warn({ envId: id, err: errorMessage(err) }, 'removing Docker objects of an environment that is not live failed; retrying next run');
    }
  }
  // A node that was drained or lost while its environments healed elsewhere, and is back: what it
  // still holds of them is stale (multi-node runtimes only).
  if (ctx.runtime.reapStale) {
    try {
      report.staleRemoved = await ctx.runtime.reapStale(ready.filter((e) => !healedIds.has(e.id)).map((e) => e.id));
      actions.record('stale-removed', undefined, report.staleRemoved);
      if (report.staleRemoved) log.warn({ count: report.staleRemoved }, 'removed what ready environments left on nodes that no longer serve them');
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'removing stale copies on nodes that came back failed; retrying next run');
    }
  }
  if (ctx.runtime.whereServicesRun) {
    for (const env of ready) {
      if (healedIds.has(env.id)) continue;
      try {
        if (await followMovedServices(ctx, env, log)) { report.endpointsMoved++; actions.record('endpoint-moved', env.id); }
      } catch (err) {
        log.warn({ envId: env.id, err: errorMessage(err) }, `could not read where the services of ${env.name} run now; retrying next run`);
      }
    }
  }
  report.helpersRemoved = await ctx.runtime.removeDeadHelpers(HELPER_GRACE_MS);
  actions.record('helper-removed', undefined, report.helpersRemoved);
  if (report.helpersRemoved) log.warn({ count: report.helpersRemoved }, 'removed helper containers a dead worker left behind');
  report.goldensRemoved = await ctx.seeds.collectGarbage();
  actions.record('golden-removed', undefined, report.goldensRemoved);
  // Deleted saved datasets whose removal job was lost or interrupted (its own retries come first).
  const deleted = await ctx.seeds.removeDeleted({ olderThanMs: DELETED_GRACE_MS }, (s) => recordRemoval(ctx, s, null)).catch((err) => {
    log.warn({ err: errorMessage(err) }, 'removing the volumes of deleted saved datasets failed; retrying next run');
    return { removed: [] };
  });
  report.goldensRemoved += deleted.removed.length;
  actions.record('golden-removed', undefined, deleted.removed.length);
  await wakeWaiting(ctx); // environments waiting in line that fit now (a safety net for lost wake-ups)
  return report;
}

/**
 * Updates a ready environment's recorded endpoints when the runtime says a service answers
 * elsewhere now (a swarm task moved to another node). Only services that run and publish a port
 * count: one between tasks keeps its last address until the next run. True when it moved.
 */
async function followMovedServices(ctx: Deps, env: Environment, log: WorkerContext['logger']): Promise<boolean> {
  const template = ctx.catalog.has(env.template) ? ctx.catalog.get(env.template) : undefined;
  if (!template) return false;
  const now = endpointsOf(await ctx.runtime.whereServicesRun!(env.id), template.entryService);
  const changed = Object.entries(now).filter(([service, at]) => env.endpoints[service] !== undefined && env.endpoints[service] !== at);
  if (!changed.length) return false;
  const endpoints = { ...env.endpoints, ...Object.fromEntries(changed) };
  const urls = publicUrls(ctx.config.router, ctx.config.publicHost, env.name, template.entryService, endpoints);
  const what = changed.map(([service, at]) => `${service} answers at ${at} now (was ${env.endpoints[service]})`).join('; ');
  const moved = await ctx.store.moveEndpoints(env.id, env.generation, endpoints, urls,
    `${what}: the engine moved it to another node; the router follows`, { from: env.endpoints, to: endpoints });
  if (moved) log.warn({ envId: env.id, from: env.endpoints, to: endpoints }, `services of ${env.name} moved: ${what}; addresses updated`);
  return !!moved;
}

/** What the healing event adds when the environment's data is stranded on a node that takes no tasks. */
export function strandedHow(env: Pick<Environment, 'seed'>, stranded: readonly StrandedVolume[]): string {
  if (!stranded.length) return '';
  const nodes = [...new Map(stranded.map((s) => [s.node, s.why])).entries()].map(([node, why]) => `${node} (${why})`).join(', ');
  const volumes = [...new Set(stranded.map((s) => s.volume))].join(', ');
  return `; its data (${volumes}) is on node ${nodes}, which takes no tasks`
    + (env.seed ? '' : '; it has no seed to clone again, so the redeploy waits for that node');
}

/**
 * Services of a ready environment that no longer run: no container, or one that stopped. A
 * service that others wait on to complete (`service_completed_successfully`) may have exited 0.
 */
function brokenServices(ctx: Deps, env: Environment, owned: OwnedObjects): { service: string; why: string }[] {
  let services: string[];
  let oneShot = new Set<string>();
  try {
    const stack = ctx.catalog.render(env.template, { env: { id: env.id, name: env.name, project: env.project }, images: env.images });
    services = stack.services.map((s) => s.name);
    oneShot = new Set(stack.services.flatMap((s) => s.dependsOn.filter((d) => d.condition === 'service_completed_successfully').map((d) => d.service)));
  } catch {
    services = Object.keys(env.digests); // the template changed under it: check what was deployed
  }
  const mine = owned.containers.filter((c) => c.envId === env.id);
  const broken: { service: string; why: string }[] = [];
  for (const service of services) {
    const c = mine.find((x) => x.service === service);
    if (!c) broken.push({ service, why: 'vanished' });
    else if (c.state === 'running' || c.state === 'restarting') continue;
    else if (oneShot.has(service) && c.state === 'exited' && c.exitCode === 0) continue;
    else broken.push({ service, why: c.state === 'exited' ? `exited${c.exitCode !== undefined ? ` with code ${c.exitCode}` : ''}` : `is ${c.state ?? 'not running'}` });
  }
  return broken;
}
