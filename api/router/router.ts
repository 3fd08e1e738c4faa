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
import { ActivityRecorder } from './activity.js';
import {
  failedPage, gonePage, renderPage, startingPage, unknownHostPage, unknownNamePage, upstreamErrorPage, wakingPage,
  type Page, type PageContext,
} from './pages.js';
import { parseTarget, proxyHttp, proxyUpgrade, upstreamAgent, type Target } from './proxy.js';

/** What the router needs; core only (no Docker: waking is a job for the worker). */
export interface RouterDeps {
  config: Config;
  store: EnvironmentStore;
  queues: JobQueues;
  catalog: TemplateCatalog;
  logger: Logger;
}

/** How long a looked-up environment is trusted: keeps proxying off the database, yet sees a change within a second. */
const LOOKUP_TTL_MS = 1000;
/** A sleeping environment's wake is asked for at most this often per router (the job id de-duplicates too). */
const WAKE_EVERY_MS = 2000;

type Resolution =
  | { kind: 'proxy'; env: Environment; target: Target }
  | { kind: 'page'; env?: Environment; page: Page };

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
  private readonly pages: PageContext;

  constructor(private readonly deps: RouterDeps) {
    this.activity = new ActivityRecorder(deps.store, deps.logger, deps.config.router.activityFlushMs);
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

  async handleRequest(req: IncomingMessage, res: ServerResponse, retried = false): Promise<void> {
    const r = await this.resolve(req.headers.host);
    if (r.kind === 'page') return this.send(res, r.page);
    this.activity.touch(r.env.id);
    proxyHttp(req, res, r.target, this.agent, (err) => {
      this.forget(r.env.name);
      // A cached target can be stale for a moment (a redeploy or a wake publishes new ports):
      // a refused connection for a request without a body is tried once more, looked up afresh.
      const code = (err as NodeJS.ErrnoException).code;
      if (!retried && code === 'ECONNREFUSED' && (req.method === 'GET' || req.method === 'HEAD')) {
        this.handleRequest(req, res, true).catch((e) => this.internalError(res, e));
        return;
      }
      this.deps.logger.warn({ envId: r.env.id, err: err.message }, 'router: upstream did not answer');
      this.send(res, upstreamErrorPage(r.env, code ?? err.message));
    });
  }

  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const r = await this.resolve(req.headers.host);
    if (r.kind === 'page') {
      socket.end(`HTTP/1.1 ${r.page.status} ${r.page.title.replace(/[^\x20-\x7e]/g, '?')}\r\nConnection: close\r\nContent-Length: 0\r\n${r.page.refreshSeconds ? `Retry-After: ${r.page.refreshSeconds}\r\n` : ''}\r\n`);
      return;
    }
    this.activity.touch(r.env.id);
    proxyUpgrade(req, socket, head, r.target, () => this.activity.touch(r.env.id), (err) => {
      this.forget(r.env.name);
      this.deps.logger.warn({ envId: r.env.id, err: err.message }, 'router: upstream refused a WebSocket');
      socket.end('HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    });
  }

  /** Where a Host header leads: a target to proxy to, or the page to answer with. */
  async resolve(host: string | undefined): Promise<Resolution> {
    const name = nameFromHost(host, this.deps.config.router.domain);
    if (!name) return { kind: 'page', page: unknownHostPage(this.pages, host) };
    const env = await this.lookup(name);
    if (!env) return { kind: 'page', page: unknownNamePage(this.pages, name) };
    switch (env.status) {
      case 'queued':
      case 'provisioning':
        return { kind: 'page', env, page: startingPage(env) };
      case 'sleeping':
        this.activity.touch(env.id);
        await this.wake(env);
        return { kind: 'page', env, page: wakingPage(env) };
      case 'failed':
        return { kind: 'page', env, page: failedPage(this.pages, env) };
      case 'destroying':
      case 'destroyed':
        return { kind: 'page', env, page: gonePage(this.pages, env) };
      case 'ready': {
        const entry = this.deps.catalog.has(env.template) ? this.deps.catalog.get(env.template).entryService : Object.keys(env.endpoints)[0];
        const target = parseTarget(entry ? env.endpoints[entry] : undefined);
        if (!target) return { kind: 'page', env, page: upstreamErrorPage(env, 'its entry service publishes no port') };
        return { kind: 'proxy', env, target };
      }
    }
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
