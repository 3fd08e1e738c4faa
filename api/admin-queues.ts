import { Router, type NextFunction, type Request, type Response } from 'express';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { AuthError, MayflyError } from '../core/domain/errors.js';
import type { ApiDeps } from './deps.js';
import { bearerAuth } from './middleware/auth.js';
import { SessionKeeper } from './web/session.js';

export const QUEUE_DASHBOARD_PATH = '/admin/queues';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * A change asked with the browser's session cookie must come from Mayfly's own pages (the
 * dashboard's script): its Origin names this host. The cookie is SameSite=Lax already; this
 * refuses a cross-site PUT/POST/DELETE from a browser that would send it anyway.
 */
function sameOrigin(req: Request): boolean {
  const origin = req.get('origin');
  if (!origin) return req.get('sec-fetch-site') === 'same-origin';
  try {
    return new URL(origin).host === req.get('host');
  } catch {
    return false;
  }
}

/**
 * Admins only: whoever an earlier middleware signed in (req.principal: a web session), else a
 * bearer token in this request. Nobody: a browser goes to the sign-in page and comes back, any
 * other client gets 401; someone who is not in MAYFLY_ADMINS: 403.
 */
export function requireAdmin(deps: Pick<ApiDeps, 'config' | 'authFailures'>) {
  const bearer = bearerAuth(deps.config, deps.authFailures);
  return (req: Request, res: Response, next: NextFunction) => {
    const decide = () => {
      if (!req.principal) {
        if (req.method === 'GET' && req.accepts(['json', 'html']) === 'html') {
          return res.redirect(303, `/sign-in?next=${encodeURIComponent(req.originalUrl)}`);
        }
        throw new AuthError('sign in as an admin (MAYFLY_ADMINS) to see the queue dashboard');
      }
      if (!req.principal.admin) throw new MayflyError('FORBIDDEN', 403, `"${req.principal.name}" is not an admin (MAYFLY_ADMINS); the queue dashboard is for admins only`);
      if (req.signedInBy && !SAFE_METHODS.has(req.method) && !sameOrigin(req)) {
        throw new MayflyError('FORBIDDEN', 403, `a ${req.method} with the session cookie must come from the queue dashboard itself (its Origin is not this site); use the dashboard, or a bearer token from a script`);
      }
      next();
    };
    if (!req.principal && req.get('authorization')) bearer(req, res, decide);
    else decide();
  };
}

/**
 * bull-board over the provision and lifecycle queues, at /admin/queues. Jobs are work in flight:
 * an admin may retry or remove one here; PostgreSQL stays the truth and the reconciler queues
 * again whatever a live environment still needs. The web pages' session middleware runs first,
 * so an admin signed in on the pages sees it in the browser; scripts use a bearer token.
 */
export function queueDashboard(deps: Pick<ApiDeps, 'config' | 'queues' | 'authFailures'>): Router {
  const adapter = new ExpressAdapter();
  adapter.setBasePath(QUEUE_DASHBOARD_PATH);
  createBullBoard({
    queues: [new BullMQAdapter(deps.queues.provision), new BullMQAdapter(deps.queues.lifecycle)],
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: 'Mayfly queues' } },
  });
  const router = Router();
  router.use(new SessionKeeper(deps.config).middleware());
  router.use(requireAdmin(deps));
  router.use(adapter.getRouter());
  return router;
}
