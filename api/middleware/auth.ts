import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Config } from '../../core/config/config.js';
import { AuthError } from '../../core/domain/errors.js';
import { principalFor, type Principal } from '../../core/domain/principal.js';
import { clientAddress, type AuthFailures } from './auth-failures.js';

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
    requestId?: string;
  }
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Bearer tokens from MAYFLY_API_TOKENS, compared in constant time. With `failures`, an address
 * that sent too many wrong tokens gets 429 (TOO_MANY_FAILED_SIGN_INS) until its window passes.
 */
export function bearerAuth(config: Pick<Config, 'apiTokens' | 'teams' | 'web'>, failures?: AuthFailures) {
  const { apiTokens: tokens, teams } = config;
  const known = tokens.map((t) => ({ name: t.name, hash: digest(t.secret) }));
  return (req: Request, _res: Response, next: NextFunction) => {
    const header = req.get('authorization') ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!known.length) throw new AuthError('no API tokens are configured on this server (MAYFLY_API_TOKENS)');
    if (!m) throw new AuthError();
    const address = failures ? clientAddress(req, config.web.trustedProxies) : '';
    failures?.check(address);
    const given = digest(m[1]!);
    let match: string | undefined;
    for (const t of known) if (timingSafeEqual(t.hash, given)) match = t.name;
    if (!match) {
      failures?.failed(address);
      throw new AuthError('the API token is not valid');
    }
    // The CLI and the web UI say who they are (X-Mayfly-Client); the audit trail records the door.
    const client = (req.get('x-mayfly-client') ?? '').toLowerCase();
    req.principal = principalFor(teams, match, 'token', client === 'cli' || client === 'web' ? client : 'api');
    next();
  };
}
