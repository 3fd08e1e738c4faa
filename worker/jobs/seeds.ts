import type { Job } from 'bullmq';
import { errorMessage } from '../../core/domain/errors.js';
import type { RefreshSeedJobData, SaveSnapshotJobData } from '../../core/queue/jobs.js';
import type { WorkerContext } from '../context.js';
import { SeedService } from '../seeds/seed-service.js';

/** Builds the golden snapshot of a dataset for every template that accepts it (ahead of time). */
export function refreshSeedHandler(ctx: WorkerContext) {
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

/** Saves an environment's current database as a new dataset. */
export function saveSnapshotHandler(ctx: WorkerContext) {
  return async (job: Job<SaveSnapshotJobData>): Promise<string> => {
    const env = await ctx.store.getById(job.data.environmentId);
    if (!env || env.status !== 'ready') return `skipped: environment is ${env?.status ?? 'gone'}`;
    const template = ctx.catalog.get(env.template);
    const stack = ctx.catalog.render(env.template, { env: { id: env.id, name: env.name, project: env.project }, images: env.images });
    await ctx.store.addEvent(env.id, 'snapshot', `saving the database as dataset "${job.data.name}" (requested by ${job.data.by}); the database pauses meanwhile`);
    try {
      const saved = await ctx.seeds.save(env, template, stack, { id: env.id, project: env.project, generation: env.generation }, job.data.name, job.data.by);
      await ctx.store.addEvent(env.id, 'snapshot', `saved the database as dataset "${job.data.name}" (${saved.sizeBytes ?? '?'} bytes)`, { key: saved.key, dataset: job.data.name });
      return saved.key;
    } catch (err) {
      await ctx.store.addEvent(env.id, 'snapshot', `saving the database as "${job.data.name}" failed: ${errorMessage(err)}`);
      throw err;
    }
  };
}
