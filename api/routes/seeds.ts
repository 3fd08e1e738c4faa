import { Router } from 'express';
import { PathDatasetName } from '../../core/api/schemas.js';
import { parseParam } from '../../core/api/validate.js';
import { FACT_CLONE } from '../../core/store/snapshots.js';
import type { ApiDeps } from '../deps.js';
import { rule } from '../access.js';
import type { SavedDataset } from '../../core/app/datasets.js';

/** What this module uses of the web process (narrow: a test gives it only these). */
type Deps = Pick<ApiDeps, 'catalog' | 'config' | 'datasets' | 'queues' | 'savedDatasets' | 'snapshots'>;

/** A saved dataset's ownership and size, as GET /api/v1/seeds and DELETE /api/v1/seeds/:name show it. */
function presentSaved(d: SavedDataset, publicUrl: string) {
  return {
    status: d.status, owner: d.owner, team: d.team, sizeBytes: d.sizeBytes,
    source: { environment: d.source.environment, template: d.source.template },
    createdAt: d.createdAt.toISOString(), readyAt: d.readyAt?.toISOString() ?? null, error: d.error,
    links: { delete: `${publicUrl}/api/v1/seeds/${d.name}` },
  };
}

/** Seed datasets, their golden snapshots, and the clone strategy the worker chose for this host. */
export function seedsRouter(deps: Deps): Router {
  const router = Router();
  router.get('/', rule('seed.list'), async (req, res) => {
    const [datasets, snapshots, strategy, saved] = await Promise.all([deps.datasets.list(), deps.snapshots.list(), deps.snapshots.fact(FACT_CLONE), deps.savedDatasets.listSaved(req.principal!)]);
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
        ...saved.map((d) => ({
          name: d.name, kind: 'saved', description: `saved by ${d.owner ?? '?'} from ${d.source.environment ? `environment ${d.source.environment}` : 'an environment'} of ${d.template}`,
          templates: [d.template], snapshots: goldens(d.name), ...presentSaved(d, deps.config.publicUrl), canDelete: d.canDelete,
        })),
      ],
    });
  });

  router.post('/:name/refresh', rule('seed.refresh'), async (req, res) => {
    const name = parseParam(PathDatasetName, 'name', String(req.params.name), 'invalid dataset name');
    await deps.datasets.get(name);
    await deps.queues.enqueueRefresh(name);
    res.status(202).json({ dataset: name, status: 'building', links: { seeds: `${deps.config.publicUrl}/api/v1/seeds` } });
  });

  /** Deletes a saved dataset (its team or an admin); the worker removes its volumes. */
  router.delete('/:name', rule('seed.delete'), async (req, res) => {
    const { dataset, volumes, delivery } = await deps.savedDatasets.delete(req.principal!, String(req.params.name));
    res.status(202).json({ ...presentSaved(dataset, deps.config.publicUrl), name: dataset.name, status: 'deleting', volumes, delivery });
  });
  return router;
}
