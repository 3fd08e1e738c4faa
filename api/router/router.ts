import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { environmentAddress, nameFromHost } from '../../core/doors/addresses.js';
import type { Config } from '../../core/config/config.js';
import type { Environment } from '../../core/domain/environment.js';
import type { Logger } from '../../core/platform/log.js';
import type { JobQueues } from '../../core/queue/jobs.js';
import type { EnvironmentStore } from '../../core/store/environments.js';
import type { TemplateCatalog } from '../../core/catalog/templates.js';
import type { Principal } from '../../core/domain/principal.js';
import {
  CALLBACK_PATH, PREVIEW_COOKIE, ROUTER_PATH_PREFIX, SHARE_PATH, previewAccessOf, safeReturnPath, type PreviewAccess, type SpentTickets,
} from '../../core/app/previews.js';
import { parseCookies } from '../web/session.js';
import { AuthFailures } from '../middleware/auth-failures.js';
import { ActivityRecorder } from './activity.js';
import { RequestTrail } from './trail.js';
import {
  badTokenPage, escapeHtml, failedPage, gonePage, notYoursPage, refusedLinkPage, renderPage, signInPage, startingPage, tooManyTokensPage, unknownHostPage, unknownNamePage,
  upstreamErrorPage, wakingPage, type Page, type PageContext,
} from './pages.js';
import { parseTarget, proxyHttp, proxyUpgrade, upstreamAgent, type Target } from './proxy.js';

/** What the router needs; core only (no Docker: waking is a job for the worker). */
export interface RouterDeps {
  config: Config;
  store: EnvironmentStore;
  queues: JobQueues;
  catalog: TemplateCatalog;
  logger: Logger;
  /** Wrong API tokens per address, shared with the API and the sign-in page (made from config when absent). */
  authFailures?: AuthFailures;
  /** Sign-in tickets already redeemed, shared by every web process (this process's memory when absent). */
  spentTickets?: SpentTickets;
  /** The recent requests per environment, read by bug capsules (this router's own when absent). */
  trail?: RequestTrail;
}

/** How long a looked-up environment is trusted: keeps proxying off the database, yet sees a change within a second. */
const LOOKUP_TTL_MS = 1000;
/** A sleeping environment's wake is asked for at most this often per router (the job id de-duplicates too). */
const WAKE_EVERY_MS = 2000;

type Resolution =
  | { kind: 'proxy'; env: Environment; target: Target }
  | { kind: 'page'; env?: Environment; page: Page };

/** Who is at an environment's address: a principal (the router's cookie, or a bearer token), or nobody. */
interface Visitor {
  principal?: Principal;
  /** An `Authorization: Bearer` that is not a Mayfly token (refused with 401, not redirected). */
  badBearer?: boolean;
  /** The request carried a Mayfly token: it is not passed on to the app. */
  usedBearer?: boolean;
  /** Its address sent too many wrong tokens lately: its token was not checked; seconds until it may try again. */
  blockedFor?: number;
  /** The connection's address (wrong tokens are counted per address). */
  address: string;
}

/**
 * The router: the web process's second listener. It maps `Host: <name>.<MAYFLY_DOMAIN>` to the
 * environment's entry service and proxies HTTP and WebSocket traffic there; it answers with a page
 * of its own when there is nothing to proxy to, wakes sleeping environments, and records traffic.
 */
export class EnvironmentRouter {
  /** name -> the lookup (a promise, so concurrent requests for one name share one query). */
  private readonly cache = new Map<string, { env: Promise<Environment | undefined>; until: number }>();
  private readonly wakes = new Map<string, number>();
  private readonly agent: http.Agent = upstreamAgent();
  readonly activity: ActivityRecorder;
  /** Recent proxied requests per environment (method, path without query, status, time): bug capsules read it. */
  readonly trail: RequestTrail;
  private readonly pages: PageContext;
  private readonly previews: PreviewAccess;
  private readonly authFailures: AuthFailures;

  constructor(private readonly deps: RouterDeps) {
    this.authFailures = deps.authFailures ?? new AuthFailures(deps.config.web.authFailuresPerMinute);
    this.activity = new ActivityRecorder(deps.store, deps.logger, deps.config.router.activityFlushMs);
    this.trail = deps.trail ?? new RequestTrail();
    this.previews = previewAccessOf(deps.config, deps.catalog, deps.spentTickets ? { spent: deps.spentTickets } : {});
    this.pages = {
      publicUrl: deps.config.publicUrl, domain: deps.config.router.domain,
      exampleAddress: environmentAddress(deps.config.router, '<name>'),
    };
  }

  /** Serves the router on `server` (the web process's second listener, or a test's). */
  attach(server: Server): void {
    server.on('request', (req, res) => { this.handleRequest(req, res).catch((err) => this.internalError(res, err)); });
    server.on('upgrade', (req, socket, head) => { this.handleUpgrade(req, socket, head).catch((err) => { this.deps.logger.error({ err }, 'router upgrade failed'); socket.destroy(); }); });
    server.on('clientError', (_err, socket) => { if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'); });
  }

  /** Listens where MAYFLY_ROUTER_BIND and MAYFLY_ROUTER_PORT say (the web process's second listener). */
  listen(server: Server): Promise<void> {
    const { bind, port } = this.deps.config.router;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, bind, () => { server.off('error', reject); resolve(); });
    });
  }

  /** `retry`: a second try after a refused connection, for the visitor already let in (its credentials are taken out of the request by now). */
  async handleRequest(req: IncomingMessage, res: ServerResponse, retry?: { visitor: Visitor }): Promise<void> {
    const found = await this.find(req.headers.host);
    if (found.kind === 'page') return this.send(res, found.page);
    const { env } = found;
    const path = (req.url ?? '/').split('?')[0]!;
    if (path.startsWith(ROUTER_PATH_PREFIX)) return this.ownPath(req, res, env, path);
    const visitor = retry?.visitor ?? this.visitor(req, env);
    if (!this.previews.mayOpen(visitor.principal, env)) return this.refuse(req, res, env, visitor);
    const r = await this.resolve(env, !!visitor.principal);
    if (r.kind === 'page') return this.send(res, r.page);
    this.forwardable(req, visitor);
    this.activity.touch(r.env.id);
    if (!retry) {
      // The trail keeps the method, the path (never its query), the status and the time: no body, cookie or header.
      const started = Date.now();
      const envId = r.env.id;
      const method = req.method;
      res.once('close', () => this.trail.record(envId, method, path, res.statusCode, Date.now() - started));
    }
    proxyHttp(req, res, r.target, this.agent, (err) => {
      this.forget(r.env.name);
      // A cached target can be stale for a moment (a redeploy or a wake publishes new ports):
      // a refused connection for a request without a body is tried once more, looked up afresh.
      const code = (err as NodeJS.ErrnoException).code;
      if (!retry && code === 'ECONNREFUSED' && (req.method === 'GET' || req.method === 'HEAD')) {
        this.handleRequest(req, res, { visitor }).catch((e) => this.internalError(res, e));
        return;
      }
      this.deps.logger.warn({ envId: r.env.id, err: err.message }, 'router: upstream did not answer');
      this.send(res, upstreamErrorPage(r.env, code ?? err.message));
    });
  }

  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const found = await this.find(req.headers.host);
    const answer = (page: Page) => socket.end(`HTTP/1.1 ${page.status} ${page.title.replace(/[^\x20-\x7e]/g, '?')}\r\nConnection: close\r\nContent-Length: 0\r\n${page.refreshSeconds ? `Retry-After: ${page.refreshSeconds}\r\n` : ''}\r\n`);
    if (found.kind === 'page') return void answer(found.page);
    const { env } = found;
    // A WebSocket is let in on the same terms as a page: the router's cookie, or a bearer token.
    const visitor = this.visitor(req, env);
    if (!this.previews.mayOpen(visitor.principal, env)) {
      return void answer(this.refusal(env, visitor) ?? signInPage(this.pages, env.name, this.address(env)));
    }
    const r = await this.resolve(env, !!visitor.principal);
    if (r.kind === 'page') return void answer(r.page);
    this.forwardable(req, visitor);
    this.activity.touch(r.env.id);
    proxyUpgrade(req, socket, head, r.target, () => this.activity.touch(r.env.id), (err) => {
      this.forget(r.env.name);
      this.deps.logger.warn({ envId: r.env.id, err: err.message }, 'router: upstream refused a WebSocket');
      socket.end('HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    });
  }

  /** The environment a Host header names, or the page to answer with. */
  private async find(host: string | undefined): Promise<{ kind: 'env'; env: Environment } | { kind: 'page'; page: Page }> {
    const name = nameFromHost(host, this.deps.config.router.domain);
    if (!name) return { kind: 'page', page: unknownHostPage(this.pages, host) };
    const env = await this.lookup(name);
    if (!env) return { kind: 'page', page: unknownNamePage(this.pages, name) };
    return { kind: 'env', env };
  }

  /**
   * Where a request for an environment its visitor may open leads: a target to proxy to, or the
   * page to answer with. `detailed`: someone signed in (or a share link's holder) sees why it
   * failed or went away; a visitor of a public environment gets the same pages without them.
   */
  private async resolve(env: Environment, detailed: boolean): Promise<Resolution> {
    switch (env.status) {
      case 'queued':
      case 'provisioning':
        return { kind: 'page', env, page: startingPage(env, detailed) };
      case 'sleeping':
        this.activity.touch(env.id);
        await this.wake(env);
        return { kind: 'page', env, page: wakingPage(env) };
      case 'failed':
        return { kind: 'page', env, page: failedPage(this.pages, env, detailed) };
      case 'destroying':
      case 'destroyed':
        return { kind: 'page', env, page: gonePage(this.pages, env, detailed) };
      case 'ready': {
        const entry = this.deps.catalog.has(env.template) ? this.deps.catalog.get(env.template).entryService : Object.keys(env.endpoints)[0];
        const target = parseTarget(entry ? env.endpoints[entry] : undefined);
        if (!target) return { kind: 'page', env, page: upstreamErrorPage(env, 'its entry service publishes no port') };
        return { kind: 'proxy', env, target };
      }
    }
  }

  // ---- access -----------------------------------------------------------------------------------

  private address(env: Environment): string {
    return environmentAddress(this.deps.config.router, env.name);
  }

  /**
   * Who asks: a Mayfly bearer token (CI, scripts) and the router's cookie for this environment;
   * the first that may open it is the visitor (else the token's principal, for the refusal).
   */
  private visitor(req: IncomingMessage, env: Environment): Visitor {
    const address = plainAddress(req.socket.remoteAddress);
    const fromCookie = this.previews.fromGrant(parseCookies(req.headers.cookie)[PREVIEW_COOKIE], env);
    const m = /^Bearer\s+(\S+)$/i.exec(String(req.headers.authorization ?? ''));
    if (!m) return fromCookie ? { principal: fromCookie, address } : { address };
    const fromToken = this.previews.fromBearer(m[1]!);
    // An address that sent too many wrong tokens is not let in by a token, right or wrong, until
    // its window passes (so tokens cannot be tried at the speed of the network); a Mayfly token is
    // still taken out of the request, and the router's cookie still works.
    const blockedFor = this.authFailures.blockedFor(address);
    if (blockedFor > 0) return fromCookie ? { principal: fromCookie, usedBearer: !!fromToken, address } : { blockedFor, usedBearer: !!fromToken, address };
    // Not a Mayfly token: perhaps the app's own (passed on); it opens nothing here.
    if (!fromToken) return fromCookie ? { principal: fromCookie, address } : { badBearer: true, address };
    if (fromCookie && !this.previews.mayOpen(fromToken, env)) return { principal: fromCookie, usedBearer: true, address };
    return { principal: fromToken, usedBearer: true, address };
  }

  /** The page for a visitor who may not open the environment, when its credentials say why (else undefined: sign in). */
  private refusal(env: Environment, visitor: Visitor): Page | undefined {
    if (visitor.principal) return notYoursPage(env.name, visitor.principal.name);
    if (visitor.blockedFor) return tooManyTokensPage(env.name, visitor.blockedFor);
    if (visitor.badBearer) {
      this.authFailures.failed(visitor.address);
      this.deps.logger.info({ envId: env.id, name: env.name, address: visitor.address }, 'router: a request with a token that is not a Mayfly API token was refused');
      return badTokenPage(env.name);
    }
    return undefined;
  }

  /** The app never sees Mayfly's credentials: the router's cookie and a Mayfly bearer token are taken out. */
  private forwardable(req: IncomingMessage, visitor: Visitor): void {
    if (visitor.usedBearer) delete req.headers.authorization;
    const cookie = req.headers.cookie;
    if (cookie && cookie.includes(`${PREVIEW_COOKIE}=`)) {
      const rest = cookie.split(';').map((c) => c.trim()).filter((c) => c && !c.startsWith(`${PREVIEW_COOKIE}=`)).join('; ');
      if (rest) req.headers.cookie = rest;
      else delete req.headers.cookie;
    }
  }

  /** No way in: a browser's GET goes to sign in (and comes back); anything else gets a page that says how. */
  private refuse(req: IncomingMessage, res: ServerResponse, env: Environment, visitor: Visitor): void {
    const refusal = this.refusal(env, visitor);
    if (refusal) return this.send(res, refusal);
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.send(res, signInPage(this.pages, env.name, this.address(env)));
    const back = safeReturnPath(req.url) ?? '/';
    const to = `${this.deps.config.publicUrl}/router/authorize?env=${encodeURIComponent(env.name)}&return=${encodeURIComponent(back)}`;
    res.writeHead(302, { location: to, 'cache-control': 'no-store', 'content-type': 'text/html; charset=utf-8' });
    res.end(renderPage({ status: 302, title: 'Sign in', body: `<h1>Sign in first</h1><p><a href="${escapeHtml(to)}">Sign in to Mayfly</a> to open <code>${escapeHtml(env.name)}</code>.</p>` }));
  }

  /** The router's own paths on an environment's address: the handshake's callback and share links. */
  private async ownPath(req: IncomingMessage, res: ServerResponse, env: Environment, path: string): Promise<void> {
    const query = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
    if (path === CALLBACK_PATH) {
      const r = await this.previews.redeemTicket(query.get('ticket'), env);
      if (!r.ok) {
        this.deps.logger.info({ envId: env.id, name: env.name, problem: r.problem }, 'router: a sign-in ticket was refused');
        return this.send(res, refusedLinkPage(env.name, this.address(env), 'sign-in', r.problem));
      }
      return this.grant(res, r.grant, r.expiresAt, r.returnPath);
    }
    if (path === SHARE_PATH) {
      const r = this.previews.redeemShare(query.get('token'), env);
      if (!r.ok) {
        this.deps.logger.info({ envId: env.id, name: env.name, problem: r.problem }, 'router: a share link was refused');
        return this.send(res, refusedLinkPage(env.name, this.address(env), 'share', r.problem));
      }
      this.deps.logger.info({ envId: env.id, name: env.name, until: r.expiresAt.toISOString() }, 'router: opened through a share link');
      return this.grant(res, r.grant, r.expiresAt, '/');
    }
    this.send(res, { status: 404, title: 'Not a router path', body: `<h1>Nothing at <code>${escapeHtml(path)}</code></h1><p>Paths under <code>${ROUTER_PATH_PREFIX}</code> belong to the Mayfly router (sign-in and share links), not to the app.</p>` });
  }

  /** Sets the router's cookie on this host (HttpOnly, SameSite=Lax, Secure behind https) and goes on to `to`. */
  private grant(res: ServerResponse, value: string, until: Date, to: string): void {
    const maxAge = Math.max(1, Math.floor((until.getTime() - Date.now()) / 1000));
    const secure = this.deps.config.router.publicScheme === 'https' ? '; Secure' : '';
    res.writeHead(303, {
      location: to,
      'set-cookie': `${PREVIEW_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secure}`,
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
    });
    res.end();
  }

  private async lookup(name: string): Promise<Environment | undefined> {
    const now = Date.now();
    const hit = this.cache.get(name);
    if (hit && hit.until > now) return hit.env;
    const env = this.deps.store.getByName(name);
    this.cache.set(name, { env, until: now + LOOKUP_TTL_MS });
    env.catch(() => this.cache.delete(name)); // a failed lookup is not remembered
    if (this.cache.size > 10_000) for (const [k, v] of this.cache) if (v.until <= now) this.cache.delete(k);
    return env;
  }

  private forget(name: string): void {
    this.cache.delete(name);
  }

  private async wake(env: Environment): Promise<void> {
    const last = this.wakes.get(env.id) ?? 0;
    if (Date.now() - last < WAKE_EVERY_MS) return;
    if (this.wakes.size > 1000) for (const [id, at] of this.wakes) if (Date.now() - at > WAKE_EVERY_MS) this.wakes.delete(id);
    this.wakes.set(env.id, Date.now());
    try {
      await this.deps.queues.enqueueWake(env.id);
      this.deps.logger.info({ envId: env.id, name: env.name }, 'router: request for a sleeping environment, wake queued');
    } catch (err) {
      this.wakes.delete(env.id);
      this.deps.logger.error({ err, envId: env.id }, 'router: queuing a wake failed; the next request tries again');
    }
  }

  private send(res: ServerResponse, page: Page): void {
    if (res.headersSent) { res.destroy(); return; }
    res.writeHead(page.status, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      ...(page.refreshSeconds ? { 'retry-after': String(page.refreshSeconds) } : {}),
    });
    res.end(renderPage(page));
  }

  private internalError(res: ServerResponse, err: unknown): void {
    this.deps.logger.error({ err }, 'router request failed');
    this.send(res, { status: 503, title: 'Mayfly router unavailable', refreshSeconds: 5, body: '<h1>The router cannot look environments up right now</h1><p>Its database did not answer; this page tries again in a few seconds.</p>' });
  }

  async close(): Promise<void> {
    this.agent.destroy();
    await this.activity.close();
  }
}

/** A connection's address without the IPv4-mapped prefix (wrong tokens are counted per address). */
function plainAddress(remote: string | undefined): string {
  if (!remote) return 'unknown';
  return remote.startsWith('::ffff:') ? remote.slice(7) : remote;
}
