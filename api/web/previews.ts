/**
 * The web app's half of opening environments through the router (api/router): the sign-in
 * handshake that carries a Mayfly session to `<name>.<domain>`, and the share-link button of an
 * environment's page. The rights are decided by core/app (PreviewAccess, the `environment.open`
 * and `environment.share` rules); this door only translates.
 */
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { CALLBACK_PATH, SHARE_PATH, previewAccessOf, safeReturnPath, type PreviewAccess } from '../../core/app/previews.js';
import { NAME_PATTERN } from '../../core/domain/environment.js';
import { ForbiddenError, InputError, MayflyError, NotFoundError } from '../../core/domain/errors.js';
import { environmentAddress } from '../../core/doors/addresses.js';
import type { RouterConfig } from '../../core/config/router.js';
import type { ApiDeps } from '../deps.js';
import { rule } from '../access.js';
import { SessionKeeper } from './session.js';

/** What this module uses of the web process (narrow: a test gives it only these). */
type Deps = Pick<ApiDeps, 'audit' | 'catalog' | 'config' | 'store'>;

/** The address of a share link: the environment's own, on the router's share path. */
export function shareUrl(router: RouterConfig, name: string, token: string): string {
  return `${environmentAddress(router, name)}${SHARE_PATH}?token=${token}`;
}

const escapeHtml = (v: string) => v.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The last step of the handshake after a sign-in: on to the environment, at once. */
function continuePage(name: string, to: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${escapeHtml(to)}"><title>Opening ${escapeHtml(name)} · Mayfly</title></head>` +
    `<body><p>Signed in. Opening <a href="${escapeHtml(to)}">${escapeHtml(name)}</a>...</p></body></html>`;
}

export function previewsRouter(deps: Deps, previews: PreviewAccess = previewAccessOf(deps.config, deps.catalog, { audit: deps.audit, store: deps.store })): Router {
  const { config, store } = deps;
  const sessions = new SessionKeeper(config);
  const session = sessions.middleware();
  const router = Router();

  /**
   * The handshake: the router sends a visitor without its cookie here; once signed in (the
   * sign-in page comes back here), a person who may open the environment is sent to its
   * callback with a one-time ticket. `return` must be a path on the environment, never a URL.
   */
  /** Pages for signed-in people only; others go to the sign-in page and come back. */
  const signedIn = (req: Request, res: Response, next: NextFunction) => {
    if (req.principal) return next();
    res.redirect(303, `/sign-in?next=${encodeURIComponent(req.originalUrl)}`);
  };

  router.get('/router/authorize', session, signedIn, rule('environment.open'), async (req, res) => {
    const name = req.query.env;
    const problems = [];
    if (typeof name !== 'string' || !NAME_PATTERN.test(name)) problems.push({ field: 'env', message: 'must be an environment name' });
    const back = req.query.return === undefined ? '/' : safeReturnPath(req.query.return);
    if (back === undefined) problems.push({ field: 'return', message: 'must be a path on the environment such as /cart (not a URL: open redirects are refused)' });
    if (problems.length) throw new InputError(`invalid request: ${problems.map((p) => p.field).join(', ')}`, problems);
    const env = await store.getByName(name as string);
    if (!env) throw new NotFoundError('ENVIRONMENT_NOT_FOUND', `no environment named "${name}"`);
    const ticket = previews.ticket(req.principal!, req.signedInBy ?? 'session', env, back!);
    const to = `${environmentAddress(config.router, env.name)}${CALLBACK_PATH}?ticket=${ticket}`;
    res.set({ 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' });
    // Reached by a redirect from one of our own pages (the sign-in form): the pages' CSP
    // (form-action 'self') would block a redirect to the environment's origin at the end of a form
    // submission, so the browser continues with a page of its own (a meta refresh, no script).
    if (req.get('sec-fetch-site') === 'same-origin') {
      return res.status(200).set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'").type('html').send(continuePage(env.name, to));
    }
    res.redirect(303, to);
  });

  /** The share button of an environment's page: the link comes back in the page's message. */
  const form = express.urlencoded({ extended: false, limit: '8kb' });
  const csrf = (req: Request, _res: Response, next: NextFunction) => {
    if (sessions.checkCsrf(req.session, (req.body as Record<string, unknown> | undefined)?._csrf)) return next();
    throw new ForbiddenError('This form was refused: it did not carry this browser\'s form token (CSRF). Reload the page and try again.');
  };
  router.post('/environments/:name/share', session, form, csrf, signedIn, rule('environment.share'), async (req, res) => {
    const name = String(req.params.name);
    const env = NAME_PATTERN.test(name) ? await store.getByName(name) : undefined;
    if (!env) throw new NotFoundError('ENVIRONMENT_NOT_FOUND', `no environment named "${name}"`);
    try {
      const { token, expiresAt } = await previews.share(req.principal!, env, (req.body as Record<string, unknown>).ttl);
      sessions.flash(res, { kind: 'ok', text: `Share link for ${env.name}, works until ${expiresAt.toISOString()} for anyone who has it: ${shareUrl(config.router, env.name, token)}` });
    } catch (err) {
      if (!(err instanceof MayflyError) || err.status >= 500) throw err;
      const problems = err instanceof InputError ? err.problems.map((p) => `${p.field} ${p.message}`).join('; ') : '';
      sessions.flash(res, { kind: 'error', text: problems || err.message });
    }
    res.redirect(303, `/environments/${env.name}`);
  });

  return router;
}
