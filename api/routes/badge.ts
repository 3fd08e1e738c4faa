import { Router, type Request, type Response } from 'express';
import { NAME_PATTERN } from '../../core/domain/environment.js';
import { badgeSvg } from '../../core/doors/badge.js';
import type { ApiDeps } from '../deps.js';
import { rule } from '../access.js';

/**
 * GET /badge/<name>.svg: an environment's name and status as an SVG badge, to anyone (a pull
 * request's description is read by people without a Mayfly token, and GitHub fetches images
 * through its proxy anonymously). It shows nothing else, and a name that is malformed or that
 * no environment ever had gets the same "unknown" badge, so the answer never says more than
 * "this name's status". With MAYFLY_BADGES=off every badge is "unknown".
 */
export function badgeRouter(deps: ApiDeps): Router {
  const router = Router();
  router.get('/badge/:file', rule('public'), async (req: Request, res: Response) => {
    const file = String(req.params.file ?? '');
    const name = file.endsWith('.svg') ? file.slice(0, -4) : '';
    const known = NAME_PATTERN.test(name);
    const env = known && deps.config.doors.badges === 'public' ? await deps.store.getByName(name) : undefined;
    res.status(200);
    res.setHeader('content-type', 'image/svg+xml; charset=utf-8');
    // Live: GitHub's image proxy honours no-cache, so the badge follows the environment.
    res.setHeader('cache-control', 'no-cache, no-store, max-age=0, must-revalidate');
    res.setHeader('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'");
    res.setHeader('x-content-type-options', 'nosniff');
    res.send(badgeSvg(known ? name : 'mayfly', env ? env.status : 'unknown'));
  });
  return router;
}
