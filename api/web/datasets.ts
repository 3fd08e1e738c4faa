/**
 * The saved datasets page (/datasets): every saved dataset with its owner, team, size, source and
 * age, and a delete button (a CSRF-carrying form) for those the signed-in person may delete. Every
 * change goes through the application service (core/app/datasets.ts), as REST and the CLI do.
 */
import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { formatBytes } from '../../core/app/datasets.js';
import { InputError, MayflyError } from '../../core/domain/errors.js';
import type { ApiDeps } from '../deps.js';
import { rule } from '../access.js';

/** What this module uses of the web process (narrow: a test gives it only these). */
type Deps = Pick<ApiDeps, 'datasets' | 'savedDatasets'>;

/** What the pages' router shares with this one (api/web/pages.ts). */
export interface PageTools {
  page(req: Request, res: Response, view: string, context: Record<string, unknown>, status?: number): void;
  back(res: Response, to: string, kind: 'ok' | 'error', text: string): void;
  session: RequestHandler;
  signedIn: (req: Request, res: Response, next: NextFunction) => void;
  /** Session, form body and CSRF check, for every POST. */
  post: RequestHandler[];
}

export function datasetPages(deps: Deps, t: PageTools): Router {
  const router = Router();

  router.get('/datasets', t.session, t.signedIn, rule('seed.list'), async (req, res) => {
    const saved = await deps.savedDatasets.listSaved(req.principal!);
    const rows = saved.map((d) => ({
      name: d.name, status: d.status, owner: d.owner ?? '?', team: d.team, template: d.template ?? '?',
      size: d.sizeBytes !== null ? formatBytes(d.sizeBytes) : '-', source: d.source.environment ?? '?',
      created: d.createdAt.toISOString().replace('T', ' ').slice(0, 16) + ' UTC', error: d.error, canDelete: d.canDelete,
    }));
    const files = (await deps.datasets.list()).map((d) => d.name);
    t.page(req, res, 'datasets', { title: 'Saved datasets', rows, files });
  });

  router.post('/datasets/:name/delete', ...t.post, t.signedIn, rule('seed.delete'), async (req, res) => {
    try {
      const { dataset } = await deps.savedDatasets.delete(req.principal!, String(req.params.name));
      t.back(res, '/datasets', 'ok', `Deleted saved dataset ${dataset.name}; its data is being removed.`);
    } catch (err) {
      if (!(err instanceof MayflyError) || err.status >= 500) throw err;
      const problems = err instanceof InputError ? err.problems.map((p) => `${p.field} ${p.message}`).join('; ') : '';
      t.back(res, '/datasets', 'error', problems || err.message);
    }
  });

  return router;
}
