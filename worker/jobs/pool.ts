/**
 * The warm pool (templates' `pool: { size: N }`; rules in core/app/pool.ts): keeps N standbys of
 * each such template started and healthy, with its default seed and images, so that a request
 * claims one instead of starting from nothing. Run after every reconcile (one run at a time per
 * worker; admission's lock keeps two workers from overfilling), in the background.
 *
 * Each run, per template:
 * - drains standbys that are stale (the template changed, the golden of its seed was rebuilt,
 *   the template keeps fewer or none now, or a start that never finished): marked `draining`
 *   first, so no claim can take one, then their objects are removed and the row deleted;
 * - starts the missing ones, each only when admission has room and no request waits in line
 *   (core/app/admission.ts startStandby), each under an id reserved for its claimant.
 *
 * A claimed standby is no longer the pool's (its row is gone, its id is an environment's).
 */
import { randomUUID } from 'node:crypto';
import type { Environment } from '../../core/domain/environment.js';
import type { Template } from '../../core/catalog/templates.js';
import { errorMessage } from '../../core/domain/errors.js';
import { standbyProject, templateHash } from '../../core/app/pool.js';
import type { PoolStore, Standby } from '../../core/store/warm-pool.js';
import type { WorkerContext } from '../context.js';
import type { EnvironmentRef } from '../runtime/runtime.js';
import { SeedService } from '../seeds/seed-service.js';
import { loadSeed } from '../seeds/load-seed.js';

export class PoolKeeper {
  private running?: Promise<void>;
  /** Standbys this process is starting now (a `starting` row no one is starting is a leftover). */
  private readonly starting = new Set<string>();

  constructor(readonly store: PoolStore) {}

  /** Starts a run in the background unless one is running; errors are logged, never thrown. */
  tick(ctx: WorkerContext): void {
    if (this.running) return;
    this.running = this.run(ctx).catch((err) => ctx.logger.warn({ err: errorMessage(err) }, 'warm pool: a run failed; the next reconcile tries again'))
      .finally(() => { this.running = undefined; });
  }

  /** Waits for the run in flight (tests, shutdown). */
  async idle(): Promise<void> {
    await this.running;
  }

  /** One run: drain what is stale, start what is missing. Resolves when the standbys it started are ready (or failed). */
  async run(ctx: WorkerContext): Promise<void> {
    const rows = await this.store.list();
    const keys = new Map<string, string | null>();
    const stale: { row: Standby; why: string }[] = [];
    const kept = new Map<string, number>();
    for (const row of rows) {
      const why = await this.staleness(ctx, row, keys);
      if (why) { stale.push({ row, why }); continue; }
      const n = (kept.get(row.template) ?? 0) + 1;
      const t = ctx.catalog.get(row.template);
      if (n > t.pool.size) { stale.push({ row, why: `more than the ${t.pool.size} the template keeps` }); continue; }
      kept.set(row.template, n);
    }
    for (const { row, why } of stale) await this.drain(ctx, row, why);
    const starts: Promise<void>[] = [];
    for (const t of ctx.catalog.list().filter((x) => x.pool.size > 0)) {
      for (let have = kept.get(t.name) ?? 0; have < t.pool.size; have++) {
        const id = randomUUID();
        const hash = templateHash(t);
        const admitted = await ctx.admission.startStandby(t.name, async (client) => {
          // Counted again under admission's lock: two workers never fill past the size.
          await client.query(
            `INSERT INTO pool_standbys (id, template, seed, project, template_hash, status)
             SELECT $1, $2, $3, $4, $5, 'starting'
             WHERE (SELECT count(*) FROM pool_standbys WHERE template = $2 AND status <> 'draining') < $6`,
            [id, t.name, t.seeds.default, standbyProject(t.name, id), hash, t.pool.size]);
        });
        if (!admitted) break;
        if (!(await this.store.list()).some((r) => r.id === id)) break; // the pool was full already
        this.starting.add(id);
        starts.push(this.start(ctx, t, id).finally(() => this.starting.delete(id)));
      }
    }
    await Promise.all(starts);
  }

  /** Why a standby must go, or undefined when it is current. */
  private async staleness(ctx: WorkerContext, row: Standby, keys: Map<string, string | null>): Promise<string | undefined> {
    if (row.status === 'draining') return 'left draining by an earlier run';
    if (!ctx.catalog.has(row.template)) return 'its template is gone';
    const t = ctx.catalog.get(row.template);
    if (!t.pool.size) return 'its template keeps no pool now';
    if (row.templateHash !== templateHash(t)) return 'its template changed';
    if ((row.seed ?? null) !== t.seeds.default) return 'its template has another default seed now';
    if (row.status === 'starting') {
      const limit = ctx.config.healthTimeoutMs + 60_000;
      return !this.starting.has(row.id) && Date.now() - row.createdAt.getTime() > limit ? 'its start never finished' : undefined;
    }
    if (row.seed && row.cloneStrategy !== 'restore') {
      if (!keys.has(t.name)) keys.set(t.name, await this.currentGolden(ctx, t).catch(() => null));
      const key = keys.get(t.name);
      if (key && row.snapshotKey !== key) return 'the golden of its seed was rebuilt';
    }
    return undefined;
  }

  /** The key of the golden a new environment of `t` would be cloned from now (built if the dataset or image changed). */
  private async currentGolden(ctx: WorkerContext, t: Template): Promise<string | null> {
    if (!t.seeds.default || !t.database) return null;
    const stack = ctx.catalog.render(t.name, {
      env: { id: '00000000-0000-0000-0000-000000000000', name: 'golden', project: 'golden' },
      images: Object.fromEntries(Object.entries(t.images).map(([s, i]) => [s, i.image])),
    });
    const { spec } = SeedService.databaseSpec(t, stack);
    const { digest } = await ctx.runtime.pull(spec.image);
    return (await ctx.seeds.ensureGolden(t.seeds.default, t, spec, digest)).snapshot.key;
  }

  private async drain(ctx: WorkerContext, row: Standby, why: string): Promise<void> {
    if (row.status !== 'draining' && !(await this.store.markDraining(row.id))) return; // claimed meanwhile
    const removed = await ctx.runtime.remove(row.id);
    await this.store.remove(row.id);
    ctx.logger.info({ template: row.template, standby: row.id, removed, why }, `warm pool: standby of ${row.template} drained (${why})`);
  }

  /** Starts one standby: pull, seed clone, up, healthy; then it may be claimed. Removed again when anything fails. */
  private async start(ctx: WorkerContext, t: Template, id: string): Promise<void> {
    const project = standbyProject(t.name, id);
    const ref: EnvironmentRef = { id, project, generation: 1 };
    const log = ctx.logger.child({ template: t.name, standby: id });
    const started = Date.now();
    try {
      const images = Object.fromEntries(Object.entries(t.images).map(([s, i]) => [s, i.image]));
      // The name is rendered only into what a claim replaces anyway (a claimant's own name differs).
      const stack = ctx.catalog.render(t.name, { env: { id, name: `standby-${id.slice(0, 8)}`, project }, images });
      const digests = new Map<string, string>();
      await Promise.all([...new Set(stack.services.map((s) => s.image))].map(async (image) => { digests.set(image, (await ctx.runtime.pull(image)).digest); }));
      let snapshotKey: string | null = null;
      let strategy: string | null = null;
      let restore = false;
      if (t.database && t.seeds.default) {
        const seed = t.seeds.default;
        const env = { id, name: `standby of ${t.name}`, project, generation: 1, seed, seededAt: null, template: t.name } as unknown as Environment;
        const dbImage = stack.services.find((s) => s.name === t.database!.service)?.image ?? '';
        const prepared = await ctx.seeds.prepare(env, t, stack, ref, digests.get(dbImage) ?? '',
          async (key, s) => { snapshotKey = key; strategy = s; }, async () => ({ seed, seededAt: null }));
        if (prepared.kind === 'restore') { restore = true; strategy = 'restore'; }
      }
      await ctx.runtime.up(ref, stack, { healthTimeoutMs: ctx.config.healthTimeoutMs });
      if (restore) await loadSeed(ctx.runtime, ref, t, ctx.datasets, t.seeds.default!);
      if (!(await this.store.markReady(id, snapshotKey, strategy))) {
        await ctx.runtime.remove(id);
        await this.store.remove(id);
        log.info('warm pool: standby drained while it started; removed');
        return;
      }
      log.info({ ms: Date.now() - started }, `warm pool: standby of ${t.name} ready in ${Date.now() - started} ms`);
    } catch (err) {
      log.warn({ err: errorMessage(err) }, `warm pool: a standby of ${t.name} failed to start (${errorMessage(err)}); removed, the next run tries again`);
      await ctx.runtime.remove(id).catch(() => undefined);
      await this.store.remove(id).catch(() => undefined);
    }
  }

  /** Removes every standby (tests, and a worker told to keep no pool): marked draining first, so none is claimed meanwhile. */
  async drainAll(ctx: WorkerContext, why = 'the pool is being emptied'): Promise<number> {
    await this.idle();
    const rows = await this.store.list();
    for (const row of rows) await this.drain(ctx, row, why);
    return rows.length;
  }
}
