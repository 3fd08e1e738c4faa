import type { NextFunction, Request, Response } from 'express';
import { MayflyError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';

/**
 * The one place that turns errors into HTTP answers: {"error": {code, message, details}}.
 * Only 5xx are logged, and no stack is ever sent.
 */
export function errorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
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
      status = 413;
      body = { code: 'BODY_TOO_LARGE', message: 'the request body is larger than the server accepts' };
    } else if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') {
      status = 415;
      body = { code: 'UNSUPPORTED_ENCODING', message: e.message ?? 'unsupported body encoding' };
    } else {
      body = { code: 'INTERNAL', message: `internal error (request ${req.requestId ?? '-'}); the server log has the details` };
    }
    if (status >= 500) logger.error({ err, requestId: req.requestId, method: req.method, path: req.path }, 'request failed');
    if (res.headersSent) return;
    if (err instanceof MayflyError && err.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(Math.max(1, Math.ceil(err.retryAfterSeconds))));
    res.status(status).json({ error: body });
  };
}
