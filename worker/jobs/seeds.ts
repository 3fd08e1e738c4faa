import type { Job } from 'bullmq';
import { errorMessage } from '../../core/domain/errors.js';
import type { DeleteDatasetJobData, RefreshSeedJobData, SaveSnapshotJobData } from '../../core/queue/jobs.js';
import { formatBytes } from '../../core/app/datasets.js';
import type { WorkerContext } from '../context.js';
import { SeedService } from '../seeds/seed-service.js';
import type { Snapshot } from '../../core/store/snapshots.js';

/** What this module uses of the worker's context (narrow: a test gives it only these). */
type Deps = Pick<WorkerContext, 'catalog' | 'logger' | 'runtime' | 'savedDatasets' | 'seeds' | 'store'>;

/** Builds the golden snapshot of a dataset for every template that accepts it (ahead of time). */
export function refreshSeedHandler(ctx: Deps) {
  return async (job: Job<RefreshSeedJobData>): Promise<string[]> => {
    const built: string[] = [];
    const { chosen } = await ctx.seeds.strategy();
    if (chosen === 'restore') return built;
    for (const template of ctx.catalog.list().filter((t) => t.seeds.allowed.includes(job.data.dataset))) {
      const stack = ctx.catalog.render(template.name, {
        env: { id: '00000000-0000-0000-0000-000000000000', name: 'golden', project: 'golden' },
        images: Object.fromEntries(Object.entries(template.images).map(([s, i]) => [s, i.image])),
      });
      const { spec } = SeedService.databaseSpec(template, stack);
      const { digest } = await ctx.runtime.pull(spec.image);
      const { snapshot } = await ctx.seeds.ensureGolden(job.data.dataset, template, spec, digest);
      built.push(snapshot.key);
    }
    await ctx.seeds.collectGarbage();
    return built;
  };
}

/**
 * Saves an environment's current database as a new dataset, owned by the requester and its team;
 * with the copy's real size the team's limits are checked again (core/app/datasets.ts): past them
 * the copy is removed and the save fails, saying so in the environment's timeline.
 */
export function saveSnapshotHandler(ctx: Deps) {
  return async (job: Job<SaveSnapshotJobData>): Promise<string> => {
    const env = await ctx.store.getById(job.data.environmentId);
    if (!env || env.status !== 'ready') return `skipped: environment is ${env?.status ?? 'gone'}`;
    const template = ctx.catalog.get(env.template);
    const team = job.data.team ?? env.team;
    const stack = ctx.catalog.render(env.template, { env: { id: env.id, name: env.name, project: env.project }, images: env.images });
    await ctx.store.addEvent(env.id, 'snapshot', `saving the database as dataset "${job.data.name}" (requested by ${job.data.by}); the database pauses meanwhile`);
    try {
      const saved = await ctx.seeds.save(env, template, stack, { id: env.id, project: env.project, generation: env.generation }, job.data.name, job.data.by, team,
        (key, sizeBytes, markReady) => ctx.savedDatasets.admitSaved(team, key, sizeBytes, markReady));
      await ctx.store.addEvent(env.id, 'snapshot', `saved the database as dataset "${job.data.name}" (${saved.sizeBytes ?? '?'} bytes), owned by ${job.data.by} of team ${team}`,
        { key: saved.key, dataset: job.data.name, sizeBytes: saved.sizeBytes, owner: job.data.by, team });
      return saved.key;
    } catch (err) {
      await ctx.store.addEvent(env.id, 'snapshot', `saving the database as "${job.data.name}" failed: ${errorMessage(err)}`);
      throw err;
    }
  };
}

/**
 * Removes the volumes of a deleted saved dataset (its records are `deleting`): idempotent, so a
 * retry or the reconciler finishes what an interrupted run left. Each removal is logged and
 * written to the timeline of the environment the dataset was saved from.
 */
export function deleteDatasetHandler(ctx: Deps) {
  return async (job: Job<DeleteDatasetJobData>): Promise<string[]> => {
    const { removed, waiting } = await ctx.seeds.removeDeleted({ name: job.data.dataset }, (s) => recordRemoval(ctx, s, job.data.by));
    if (waiting.length) {
      // Retried by the queue, then by the reconciler: the volume goes once nothing reads it.
      throw new Error(`saved dataset "${job.data.dataset}": not removing ${waiting.join(', ')} while a live environment uses it; retrying later`);
    }
    return removed.map((s) => s.volume);
  };
}

/** The timeline line of a removed saved dataset, on the environment it was saved from. */
export async function recordRemoval(ctx: Deps, s: Snapshot, by: string | null): Promise<void> {
  if (!s.sourceEnv) return;
  await ctx.store.addEvent(s.sourceEnv, 'dataset-deleted',
    `saved dataset "${s.dataset}" was deleted by ${by ?? s.deletedBy ?? '?'}: removed its volume ${s.volume}${s.sizeBytes !== null ? ` (${formatBytes(s.sizeBytes)})` : ''}`,
    { dataset: s.dataset, key: s.key, volume: s.volume, sizeBytes: s.sizeBytes, by: by ?? s.deletedBy }).catch((err) => {
    ctx.logger.warn({ err: errorMessage(err), dataset: s.dataset }, 'could not write the removal of a saved dataset to its source environment\'s timeline');
  });
}
