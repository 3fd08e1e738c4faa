/**
 * Who may open an environment's address through the router, and the signed values that carry a
 * decision there: the web app's session lives on its own origin, so it is carried to
 * `<name>.<domain>` by a redirect handshake (a one-time ticket, then the router's own cookie,
 * a "grant"); a share link lets someone without an account open one environment; an API token
 * (Authorization: Bearer) works as everywhere else. The decision itself is `allowed()` with the
 * `environment.open` rule (core/app/authorization.ts); this module only proves who is asking.
 *
 * Every value is `payload.mac`, HMAC-SHA256 under a key derived (per purpose) from
 * MAYFLY_SESSION_SECRET, or from the random secret the process made at start when it is unset:
 * never from anything public. Each is bound to the environment's id, so a link or cookie made
 * for one environment opens no other, nor a later environment of the same name.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { allowed, authorize, environmentTarget, type Target } from './authorization.js';
import { DEFAULT_ACCESS, type Access, type Environment } from '../domain/environment.js';
import { formatDuration, parseDuration } from '../domain/duration.js';
import { ConflictError, InputError } from '../domain/errors.js';
import { principalFor, type Principal, type TeamDirectory } from '../domain/principal.js';
import type { TemplateCatalog } from '../catalog/templates.js';
import type { Config } from '../config/config.js';
import type { AuditTrail } from './audit.js';
import type { EnvironmentStore } from '../store/environments.js';

/** The router's cookie on `<name>.<domain>` (HttpOnly, SameSite=Lax, Secure behind https). */
export const PREVIEW_COOKIE = 'mayfly_preview';
/** Paths on an environment's address that the router answers itself (the app never sees them). */
export const ROUTER_PATH_PREFIX = '/.mayfly/';
export const CALLBACK_PATH = '/.mayfly/callback';
export const SHARE_PATH = '/.mayfly/share';
/** How long the handshake's ticket works: it only has to survive two redirects. */
export const TICKET_TTL_MS = 60_000;
export const SHARE_TTL_DEFAULT = '24h';
export const SHARE_TTL_MAX_SECONDS = 7 * 24 * 3600;

type Purpose = 'ticket' | 'share' | 'grant';

interface TicketPayload { e: string; n: string; p: string; src: Source; r: string; x: number; j: string }
interface SharePayload { e: string; n: string; by: string; x: number }
interface GrantPayload { e: string; p?: string; src?: Source; share?: true; x: number }

/** How the person was recognised on the web app: a token exchanged for a session, or a trusted proxy's header. */
export type Source = 'session' | 'proxy';

export type Redeemed<T> = ({ ok: true } & T) | { ok: false; problem: string };

export interface PreviewAccessOptions {
  /** MAYFLY_SESSION_SECRET (or the random one made at start). */
  secret: string;
  teams: TeamDirectory;
  /** MAYFLY_API_TOKENS: bearer tokens are these; a grant from a token's session ends when its token is gone. */
  apiTokens: readonly { name: string; secret: string }[];
  catalog: Pick<TemplateCatalog, 'has' | 'get'>;
  /** How long the router's cookie lasts after a handshake (MAYFLY_SESSION_TTL). */
  grantTtlMs: number;
  /** Where making a share link is recorded (allowed or denied), as every action of the application layer. */
  audit?: AuditTrail;
  /** The timeline records who made a share link and until when. */
  store?: Pick<EnvironmentStore, 'addEvent'>;
  /**
   * Where a redeemed ticket is marked spent: shared by every web process (PostgreSQL,
   * core/store/spent-tickets.ts), so a ticket works once across them; in this process only by default.
   */
  spent?: SpentTickets;
}

/** One-time values: `spend` resolves true the first time an id is spent, false after (until `until`). */
export interface SpentTickets {
  spend(id: string, until: Date): Promise<boolean>;
}

/** Spent tickets in this process's memory (one web process, and unit tests). */
export class SpentInMemory implements SpentTickets {
  private readonly spent = new Map<string, number>();
  async spend(id: string, until: Date): Promise<boolean> {
    const now = Date.now();
    for (const [j, x] of this.spent) if (x <= now) this.spent.delete(j);
    if (this.spent.has(id)) return false;
    this.spent.set(id, until.getTime());
    return true;
  }
}

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest();
const equal = (a: string, b: string) => timingSafeEqual(sha(a), sha(b));

/** A return path on the environment: a local path (no scheme, no host, no `//` or `\`), else undefined. */
export function safeReturnPath(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 2048) return undefined;
  if (!/^\/(?![/\\])/.test(value) || /[\s\u0000-\u001f\u007f\\]/.test(value)) return undefined;
  return value;
}

export class PreviewAccess {
  private readonly keys: Record<Purpose, Buffer>;
  private readonly tokens: { name: string; hash: Buffer }[];
  /** Tickets redeemed, until they expire: a ticket works once. */
  private readonly spent: SpentTickets;

  constructor(private readonly opts: PreviewAccessOptions) {
    const key = (purpose: Purpose) => createHmac('sha256', opts.secret).update(`mayfly-preview-${purpose}-v1`).digest();
    this.keys = { ticket: key('ticket'), share: key('share'), grant: key('grant') };
    this.tokens = opts.apiTokens.map((t) => ({ name: t.name, hash: sha(t.secret) }));
    this.spent = opts.spent ?? new SpentInMemory();
  }

  /** Who may open it: its own setting, else its template's, else signed-in. */
  accessOf(env: Environment): Access {
    if (env.access) return env.access;
    return this.opts.catalog.has(env.template) ? this.opts.catalog.get(env.template).access : DEFAULT_ACCESS;
  }

  target(env: Environment): Target {
    return environmentTarget(env, this.accessOf(env));
  }

  /** Whether `principal` (undefined: nobody signed in) may open the environment's address. */
  mayOpen(principal: Principal | undefined, env: Environment): boolean {
    return allowed(principal, 'environment.open', this.target(env));
  }

  // ---- signed values --------------------------------------------------------------------------

  private seal(purpose: Purpose, value: object): string {
    const payload = Buffer.from(JSON.stringify(value)).toString('base64url');
    return `${payload}.${createHmac('sha256', this.keys[purpose]).update(payload).digest('base64url')}`;
  }

  private unseal<T>(purpose: Purpose, text: unknown): Redeemed<{ value: T }> {
    if (typeof text !== 'string' || !/^[\w-]{1,4000}\.[\w-]{43}$/.test(text)) return { ok: false, problem: 'it is malformed (cut short, or changed)' };
    const [payload, mac] = text.split('.') as [string, string];
    if (!equal(mac, createHmac('sha256', this.keys[purpose]).update(payload).digest('base64url'))) {
      return { ok: false, problem: 'its signature does not match: it was changed, or made by another Mayfly server' };
    }
    try {
      return { ok: true, value: JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as T };
    } catch {
      return { ok: false, problem: 'it is malformed (cut short, or changed)' };
    }
  }

  /** The same environment (by id): a value made for another, or for an earlier one of this name, is refused. */
  private sameEnvironment(p: { e?: unknown; n?: unknown }, env: Environment): string | undefined {
    if (p.e === env.id) return undefined;
    return p.n === env.name
      ? `it was made for an earlier environment named "${env.name}", which was destroyed; this one is new`
      : `it was made for another environment${typeof p.n === 'string' ? ` ("${p.n.slice(0, 63)}")` : ''}, not "${env.name}"`;
  }

  // ---- the handshake ----------------------------------------------------------------------------

  /**
   * The web app's half of the handshake: a one-time ticket (60 s) naming who signed in, for the
   * router of `env` to exchange for its cookie. Throws 403 when the person may not open it.
   */
  ticket(principal: Principal, source: Source, env: Environment, returnPath: string): string {
    authorize(principal, 'environment.open', this.target(env));
    const value: TicketPayload = { e: env.id, n: env.name, p: principal.name, src: source, r: returnPath, x: Date.now() + TICKET_TTL_MS, j: randomBytes(12).toString('base64url') };
    return this.seal('ticket', value);
  }

  /** The router's half: a valid, unused ticket for this environment becomes the cookie's value. */
  async redeemTicket(text: unknown, env: Environment): Promise<Redeemed<{ grant: string; returnPath: string; principal: Principal; expiresAt: Date }>> {
    const opened = this.unseal<TicketPayload>('ticket', text);
    if (!opened.ok) return opened;
    const t = opened.value;
    const other = this.sameEnvironment(t, env);
    if (other) return { ok: false, problem: other };
    if (typeof t.x !== 'number' || t.x <= Date.now()) return { ok: false, problem: 'it expired (a sign-in link works for a minute)' };
    if (typeof t.j !== 'string' || typeof t.p !== 'string' || (t.src !== 'session' && t.src !== 'proxy')) return { ok: false, problem: 'it is malformed (cut short, or changed)' };
    if (!await this.spent.spend(t.j, new Date(t.x))) return { ok: false, problem: 'it was used already (a sign-in link works once)' };
    const now = Date.now();
    const principal = principalFor(this.opts.teams, t.p, 'user');
    const returnPath = safeReturnPath(t.r) ?? '/';
    const x = now + this.opts.grantTtlMs;
    return { ok: true, grant: this.seal('grant', { e: env.id, p: t.p, src: t.src, x } satisfies GrantPayload), returnPath, principal, expiresAt: new Date(x) };
  }

  // ---- share links ------------------------------------------------------------------------------

  /**
   * A share token for `env`, for `ttl` (default 24h, at most 7 days); needs the team rule. The
   * decision goes to the audit trail, the link's making to the environment's timeline.
   */
  async share(actor: Principal, env: Environment, ttl: unknown): Promise<{ token: string; expiresAt: Date }> {
    const work = async () => {
      const made = this.mint(actor, env, ttl);
      await this.opts.store?.addEvent(env.id, 'shared', `share link made by ${actor.name}, works until ${made.expiresAt.toISOString()}`, { by: actor.name, expiresAt: made.expiresAt.toISOString() });
      return made;
    };
    const details = { ttl: typeof ttl === 'string' ? ttl : SHARE_TTL_DEFAULT };
    return this.opts.audit ? this.opts.audit.around(actor, 'environment.share', { id: env.id, name: env.name }, details, work) : work();
  }

  private mint(actor: Principal, env: Environment, ttl: unknown): { token: string; expiresAt: Date } {
    authorize(actor, 'environment.share', environmentTarget(env));
    const seconds = ttl === undefined || ttl === null || ttl === '' ? parseDuration(SHARE_TTL_DEFAULT)! : parseDuration(ttl);
    if (seconds === undefined || seconds <= 0) throw new InputError('invalid request: ttl', [{ field: 'ttl', message: 'must be a duration such as "2h" or "3d": how long the link works' }]);
    if (seconds > SHARE_TTL_MAX_SECONDS) throw new InputError('invalid request: ttl', [{ field: 'ttl', message: `is longer than the maximum of ${formatDuration(SHARE_TTL_MAX_SECONDS)} for a share link` }]);
    if (env.status === 'destroying' || env.status === 'destroyed') throw new ConflictError('ENVIRONMENT_GONE', `environment "${env.name}" is ${env.status}; there is nothing to share`);
    const x = Date.now() + seconds * 1000;
    return { token: this.seal('share', { e: env.id, n: env.name, by: actor.name, x } satisfies SharePayload), expiresAt: new Date(x) };
  }

  /** A valid share token for this environment becomes the cookie's value (until the link's own end). */
  redeemShare(text: unknown, env: Environment): Redeemed<{ grant: string; expiresAt: Date }> {
    const opened = this.unseal<SharePayload>('share', text);
    if (!opened.ok) return opened;
    const s = opened.value;
    const other = this.sameEnvironment(s, env);
    if (other) return { ok: false, problem: other };
    if (typeof s.x !== 'number' || s.x <= Date.now()) return { ok: false, problem: `it expired${typeof s.x === 'number' ? ` at ${new Date(s.x).toISOString()}` : ''}; ask its team for a new one` };
    return { ok: true, grant: this.seal('grant', { e: env.id, share: true, x: s.x } satisfies GrantPayload), expiresAt: new Date(s.x) };
  }

  // ---- who is asking, at the router -------------------------------------------------------------

  /** The principal of the router's cookie, when it is valid, unexpired and made for this environment. */
  fromGrant(text: string | undefined, env: Environment): Principal | undefined {
    if (!text) return undefined;
    const opened = this.unseal<GrantPayload>('grant', text);
    if (!opened.ok) return undefined;
    const g = opened.value;
    if (g.e !== env.id || typeof g.x !== 'number' || g.x <= Date.now()) return undefined;
    if (g.share) return { name: 'share link', kind: 'share', team: '', admin: false, environmentId: env.id };
    if (typeof g.p !== 'string') return undefined;
    // A session made from a token lasts only while the token exists (as on the web pages).
    if (g.src === 'session' && !this.opts.apiTokens.some((t) => t.name === g.p)) return undefined;
    return principalFor(this.opts.teams, g.p, 'user');
  }

  /** The principal of an API token (Authorization: Bearer), compared in constant time; undefined when it is none. */
  fromBearer(secret: string): Principal | undefined {
    const given = sha(secret);
    let match: string | undefined;
    for (const t of this.tokens) if (timingSafeEqual(t.hash, given)) match = t.name;
    return match ? principalFor(this.opts.teams, match, 'token') : undefined;
  }
}

/** The PreviewAccess of a process: keys from the session secret, tokens and teams from the config. */
export function previewAccessOf(config: Pick<Config, 'web' | 'teams' | 'apiTokens'>, catalog: Pick<TemplateCatalog, 'has' | 'get'>,
  record: Pick<PreviewAccessOptions, 'audit' | 'store' | 'spent'> = {}): PreviewAccess {
  return new PreviewAccess({ secret: config.web.sessionSecret, teams: config.teams, apiTokens: config.apiTokens, catalog, grantTtlMs: config.web.sessionTtlMs, ...record });
}
