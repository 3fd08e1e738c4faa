import { Router } from 'express';
import { PathDatasetName } from '../../core/api/schemas.js';
import { parseParam } from '../../core/api/validate.js';
import { FACT_CLONE } from '../../core/store/snapshots.js';
import type { ApiDeps } from '../deps.js';
import { rule } from '../access.js';

/** Seed datasets, their golden snapshots, and the clone strategy the worker chose for this host. */
export function seedsRouter(deps: ApiDeps): Router {
  const router = Router();
  router.get('/', rule('seed.list'), async (_req, res) => {
    const [datasets, snapshots, strategy] = await Promise.all([deps.datasets.list(), deps.snapshots.list(), deps.snapshots.fact(FACT_CLONE)]);
    const goldens = (dataset: string) => snapshots.filter((s) => s.dataset === dataset).map((s) => ({
      key: s.key, template: s.template, status: s.status, image: s.image, imageDigest: s.imageDigest, sizeBytes: s.sizeBytes,
      buildMs: s.buildMs, error: s.error, createdAt: s.createdAt.toISOString(), readyAt: s.readyAt?.toISOString() ?? null,
    }));
    res.json({
      strategy: strategy ? { ...(strategy.value as object), updatedAt: strategy.updatedAt.toISOString() } : null,
      datasets: [
        ...datasets.map((d) => ({
          name: d.name, kind: 'dataset', description: d.description, files: d.files.map((f) => f.split('/').pop()), bytes: d.bytes,
          templates: deps.catalog.list().filter((t) => t.seeds.allowed.includes(d.name)).map((t) => t.name),
          snapshots: goldens(d.name),
        })),
        ...[...new Set(snapshots.filter((s) => s.kind === 'saved').map((s) => s.dataset))].map((name) => {
          const s = snapshots.find((x) => x.dataset === name && x.kind === 'saved')!;
          return { name, kind: 'saved', description: `saved by ${s.createdBy ?? '?'} from an environment of ${s.template}`, templates: [s.template], snapshots: goldens(name) };
        }),
      ],
    });
  });

  router.post('/:name/refresh', rule('seed.refresh'), async (req, res) => {
    const name = parseParam(PathDatasetName, 'name', String(req.params.name), 'invalid dataset name');
    await deps.datasets.get(name);
    await deps.queues.enqueueRefresh(name);
    res.status(202).json({ dataset: name, status: 'building', links: { seeds: `${deps.config.publicUrl}/api/v1/seeds` } });
  });
  return router;
}
