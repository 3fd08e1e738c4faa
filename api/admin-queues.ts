import { Router, type NextFunction, type Request, type Response } from 'express';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { AuthError, MayflyError } from '../core/domain/errors.js';
import type { ApiDeps } from './deps.js';
import { bearerAuth } from './middleware/auth.js';

export const QUEUE_DASHBOARD_PATH = '/admin/queues';

/**
 * Admins only: whoever an earlier middleware signed in (req.principal: a web session), else a
 * bearer token in this request. Nobody: 401; someone who is not in MAYFLY_ADMINS: 403.
 */
export function requireAdmin(deps: Pick<ApiDeps, 'config' | 'authFailures'>) {
  const bearer = bearerAuth(deps.config, deps.authFailures);
  return (req: Request, res: Response, next: NextFunction) => {
    const decide = () => {
      if (!req.principal) throw new AuthError('sign in as an admin (MAYFLY_ADMINS) to see the queue dashboard');
      if (!req.principal.admin) throw new MayflyError('FORBIDDEN', 403, `"${req.principal.name}" is not an admin (MAYFLY_ADMINS); the queue dashboard is for admins only`);
      next();
    };
    if (!req.principal && req.get('authorization')) bearer(req, res, decide);
    else decide();
  };
}

/**
 * bull-board over the provision and lifecycle queues, at /admin/queues. Jobs are work in flight:
 * an admin may retry or remove one here; PostgreSQL stays the truth and the reconciler queues
 * again whatever a live environment still needs.
 */
export function queueDashboard(deps: Pick<ApiDeps, 'config' | 'queues'>): Router {
  const adapter = new ExpressAdapter();
  adapter.setBasePath(QUEUE_DASHBOARD_PATH);
  createBullBoard({
    queues: [new BullMQAdapter(deps.queues.provision), new BullMQAdapter(deps.queues.lifecycle)],
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: 'Mayfly queues' } },
  });
  const router = Router();
  router.use(requireAdmin(deps));
  router.use(adapter.getRouter());
  return router;
}
