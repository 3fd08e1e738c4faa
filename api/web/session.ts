/**
 * Sign-in for the web pages. A person is known either from an authenticating proxy's header
 * (believed only when the connection comes from MAYFLY_TRUSTED_PROXIES) or from a session cookie
 * given in exchange for an API token on the sign-in page. The cookie is `payload.hmac`, signed
 * with MAYFLY_SESSION_SECRET and carrying its own expiry; every visitor, signed in or not, has
 * one, because the CSRF token of every form (the sign-in form too) is derived from its id.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Config } from '../../core/config/config.js';
import { principalFor } from '../../core/domain/principal.js';

export const SESSION_COOKIE = 'mayfly_session';
export const FLASH_COOKIE = 'mayfly_flash';

export interface Session {
  /** Random id: the CSRF token is derived from it. */
  sid: string;
  /** The signed-in name (from a token); absent for a visitor who has not signed in. */
  name?: string;
  /** Expiry, ms since the epoch. */
  exp: number;
}

export interface Flash {
  kind: 'ok' | 'error';
  text: string;
}

declare module 'express-serve-static-core' {
  interface Request {
    session?: Session;
    /** How the principal was recognised, for the page header. */
    signedInBy?: 'proxy' | 'session';
  }
}

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const key = part.slice(0, eq).trim();
    try { out[key] = decodeURIComponent(part.slice(eq + 1).trim()); } catch { /* malformed: ignored */ }
  }
  return out;
}

const equal = (a: string, b: string) => {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
};

export class SessionKeeper {
  private readonly tokens: { name: string; hash: Buffer }[];

  constructor(private readonly config: Config) {
    this.tokens = config.apiTokens.map((t) => ({ name: t.name, hash: createHash('sha256').update(t.secret).digest() }));
  }

  private mac(text: string): string {
    return createHmac('sha256', this.config.web.sessionSecret).update(text).digest('base64url');
  }

  seal(value: unknown): string {
    const payload = Buffer.from(JSON.stringify(value)).toString('base64url');
    return `${payload}.${this.mac(payload)}`;
  }

  /** The value of a sealed cookie, or undefined when its signature is wrong. */
  unseal<T>(text: string | undefined): T | undefined {
    if (!text) return undefined;
    const dot = text.lastIndexOf('.');
    if (dot <= 0 || !equal(text.slice(dot + 1), this.mac(text.slice(0, dot)))) return undefined;
    try { return JSON.parse(Buffer.from(text.slice(0, dot), 'base64url').toString('utf8')) as T; } catch { return undefined; }
  }

  csrfToken(session: Session): string {
    return this.mac(`csrf:${session.sid}`);
  }

  checkCsrf(session: Session | undefined, given: unknown): boolean {
    return !!session && typeof given === 'string' && given.length > 0 && equal(given, this.csrfToken(session));
  }

  /** The token's name when `secret` is one of MAYFLY_API_TOKENS. */
  tokenName(secret: string): string | undefined {
    const given = createHash('sha256').update(secret).digest();
    let match: string | undefined;
    for (const t of this.tokens) if (timingSafeEqual(t.hash, given)) match = t.name;
    return match;
  }

  private cookie(name: string, value: string, maxAgeSeconds: number): string {
    return `${name}=${encodeURIComponent(value)}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSeconds}${this.config.web.secureCookies ? '; Secure' : ''}`;
  }

  /** Starts a new session (a new id: signing in never keeps the id a visitor had before). */
  start(res: Response, name?: string): Session {
    const session: Session = { sid: randomBytes(18).toString('base64url'), ...(name ? { name } : {}), exp: Date.now() + this.config.web.sessionTtlMs };
    res.append('Set-Cookie', this.cookie(SESSION_COOKIE, this.seal(session), Math.round(this.config.web.sessionTtlMs / 1000)));
    return session;
  }

  flash(res: Response, flash: Flash): void {
    res.append('Set-Cookie', this.cookie(FLASH_COOKIE, this.seal(flash), 60));
  }

  /** Reads (and clears) the message left by the previous POST of this browser. */
  takeFlash(req: Request, res: Response): Flash | undefined {
    const raw = parseCookies(req.get('cookie'))[FLASH_COOKIE];
    if (!raw) return undefined;
    res.append('Set-Cookie', this.cookie(FLASH_COOKIE, '', 0));
    const f = this.unseal<Flash>(raw);
    return f && (f.kind === 'ok' || f.kind === 'error') && typeof f.text === 'string' ? f : undefined;
  }

  /** The trusted proxy's user header, when the connection comes from a trusted address. */
  proxyUser(req: Request): string | undefined {
    const remote = req.socket.remoteAddress ?? '';
    const v4 = remote.startsWith('::ffff:') ? remote.slice(7) : remote;
    const family = v4.includes(':') ? 'ipv6' : 'ipv4';
    if (!remote || !this.config.web.trustedProxies.check(v4, family)) return undefined;
    for (const header of this.config.web.proxyUserHeaders) {
      const value = req.get(header)?.trim();
      if (value && /^[A-Za-z0-9._@+-]{1,128}$/.test(value)) return value;
    }
    return undefined;
  }

  /**
   * Middleware: reads or starts the session and sets req.principal for a signed-in person.
   * A proxy header from an address that is not trusted is ignored, as if it were not there.
   */
  middleware() {
    return (req: Request, res: Response, next: NextFunction) => {
      let session = this.unseal<Session>(parseCookies(req.get('cookie'))[SESSION_COOKIE]);
      if (!session || typeof session.sid !== 'string' || !(session.exp > Date.now())) session = this.start(res);
      req.session = session;
      const proxied = this.proxyUser(req);
      if (proxied) {
        req.principal = principalFor(this.config.teams, proxied, 'user', 'web');
        req.signedInBy = 'proxy';
      } else if (session.name && this.config.apiTokens.some((t) => t.name === session!.name)) {
        req.principal = principalFor(this.config.teams, session.name, 'user', 'web');
        req.signedInBy = 'session';
      }
      next();
    };
  }
}
