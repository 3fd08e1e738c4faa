import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../../core/platform/log.js';
import { routePattern } from '../metrics.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** This request's logger: every line carries `requestId` (and `envId` once one is known). */
    log: Logger;
    /** The environment this request is about, once a handler answered with it. */
    envId?: string;
  }
}

const QUIET = new Set(['/healthz', '/readyz', '/metrics']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Gives each request a child logger with its requestId, and logs one line when the answer is
 * sent (route pattern, status, time). An answer that is an environment (or its timeline) names
 * the environment in that line too: the routers need not remember to, whichever door it is.
 */
export function requestLog(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction) => {
    req.log = logger.child({ requestId: req.requestId });
    const started = process.hrtime.bigint();
    const json = res.json.bind(res);
    res.json = (body?: unknown) => {
      const id = (body as { id?: unknown } | null)?.id;
      if (!req.envId && typeof id === 'string' && UUID.test(id)) req.envId = id;
      return json(body);
    };
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const line = { ...(req.envId ? { envId: req.envId } : {}), method: req.method, route: routePattern(req), status: res.statusCode, ms: Math.round(ms * 10) / 10 };
      if (QUIET.has(req.path)) req.log.debug(line, 'request');
      else req.log.info(line, 'request');
    });
    next();
  };
}
