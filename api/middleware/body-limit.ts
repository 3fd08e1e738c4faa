import type { NextFunction, Request, Response } from 'express';
import { PayloadTooLargeError } from '../../core/domain/errors.js';

/**
 * The largest request body each door accepts. Every door reads its body with one of Express's
 * parsers at this limit (which answers 413 PAYLOAD_TOO_LARGE through the error middleware), and
 * `bodyLimit` refuses a declared Content-Length over it before a single byte is read, whatever
 * the content type (a form posted to the JSON API is refused the same way).
 */
export const BODY_LIMITS = {
  /** REST API v1 (JSON): requests are a few hundred bytes. */
  rest: 64 * 1024,
  /** Slack slash commands (urlencoded forms, signed): a command line and some ids. */
  slack: 64 * 1024,
  /** GitHub and GitLab webhooks (JSON, signed): a pull or merge request payload with a long description fits. */
  github: 1024 * 1024,
  /** Any other urlencoded form (web pages). */
  form: 64 * 1024,
} as const;

export function bodyLimit(limitBytes: number) {
  return (req: Request, _res: Response, next: NextFunction) => {
    const declared = Number(req.get('content-length') ?? 0);
    if (declared > limitBytes) throw new PayloadTooLargeError(limitBytes, `${req.method} ${req.originalUrl.split('?')[0]}`);
    next();
  };
}
