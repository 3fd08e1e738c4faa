/**
 * Every route declares its authorization rule: an action of core/app/authorization.ts (what the
 * principal may do), or one of the doors that authenticate otherwise. The declaration is a
 * handler on the route itself, so the rule is where the route is, and the authorization matrix
 * test (test/integration/authorization-matrix.test.ts) walks the app's routes: a route without
 * a rule fails it.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { authorize, RULES, type Action } from '../core/app/authorization.js';
import { AuthError } from '../core/domain/errors.js';

/**
 * - an Action: a principal is required (401 without one); `admin` actions are checked here, the
 *   others by the application service, which knows the environment's team;
 * - `public`: health, readiness, the API description, sign-in and static files;
 * - `signature`: Slack and GitHub, which sign each request (checked by their door);
 * - `metrics-token`: /metrics, behind MAYFLY_METRICS_TOKEN when it is set.
 */
export type RouteRule = Action | 'public' | 'signature' | 'metrics-token';

const RULE = Symbol.for('mayfly.route-rule');
type Ruled = RequestHandler & { [RULE]?: RouteRule };

export function rule(r: RouteRule): RequestHandler {
  const handler: Ruled = (req: Request, _res: Response, next: NextFunction) => {
    if (r === 'public' || r === 'signature' || r === 'metrics-token') return next();
    if (!req.principal) throw new AuthError();
    if (RULES[r] === 'admin') authorize(req.principal, r);
    next();
  };
  handler[RULE] = r;
  return handler;
}

/** Marks a whole mounted app (a third-party router such as the queue dashboard) with its rule. */
export function ruled<T extends object>(r: RouteRule, handler: T): T {
  (handler as Ruled)[RULE] = r;
  return handler;
}

/** The rule a handler declares, if any (for the matrix test). */
export function ruleOf(handler: unknown): RouteRule | undefined {
  return typeof handler === 'function' ? (handler as Ruled)[RULE] : undefined;
}
