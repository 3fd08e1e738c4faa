import type { NextFunction, Request, Response } from 'express';
import { isStoreUnavailable, MayflyError, PayloadTooLargeError, StoreUnavailableError } from '../../core/domain/errors.js';
import type { Logger } from '../../core/platform/log.js';

/**
 * The one place that turns errors into HTTP answers: {"error": {code, message, details}}.
 * Only 5xx are logged, and no stack is ever sent.
 */
export function errorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (!(err instanceof MayflyError) && isStoreUnavailable(err)) err = new StoreUnavailableError(err);
    let status = 500;
    let body: { code: string; message: string; details?: unknown };
    const e = err as { type?: string; status?: number; statusCode?: number; message?: string };
    if (err instanceof MayflyError) {
      status = err.status >= 400 && err.status < 600 ? err.status : 500;
      body = { code: err.code, message: err.message, ...(err.details !== undefined ? { details: err.details } : {}) };
    } else if (e?.type === 'entity.parse.failed') {
      status = 400;
      body = { code: 'INVALID_JSON', message: `the request body is not valid JSON: ${e.message}`, details: [{ field: '(body)', message: 'not valid JSON' }] };
    } else if (e?.type === 'entity.too.large') {
      // From a body parser at its door's limit (api/middleware/body-limit.ts).
      const tooLarge = new PayloadTooLargeError((e as { limit?: number }).limit ?? 0, `${req.method} ${req.originalUrl.split('?')[0]}`);
      status = 413;
      body = { code: tooLarge.code, message: tooLarge.message, details: tooLarge.details };
    } else if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') {
      status = 415;
      body = { code: 'UNSUPPORTED_ENCODING', message: e.message ?? 'unsupported body encoding' };
    } else {
      body = { code: 'INTERNAL', message: `internal error (request ${req.requestId ?? '-'}); the server log has the details` };
    }
    if (status >= 500) {
      if (req.log) req.log.error({ err, ...(req.envId ? { envId: req.envId } : {}), method: req.method, path: req.path }, 'request failed');
      else logger.error({ err, requestId: req.requestId, method: req.method, path: req.path }, 'request failed');
    }
    if (res.headersSent) return;
    if (err instanceof MayflyError && err.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(Math.max(1, Math.ceil(err.retryAfterSeconds))));
    res.status(status).json({ error: body });
  };
}
