import { isIP } from 'node:net';
import { ConfigError, type ConfigReader } from './read.js';

/**
 * Configuration of the router: the second listener of the web process that serves every
 * environment at `http://<name>.<MAYFLY_DOMAIN>:<port>` and wakes sleeping ones. Part of the one
 * frozen Config (config.router); parsed by loadConfig.
 */
export interface RouterConfig {
  /** MAYFLY_DOMAIN: environments are `<name>.<domain>` (default localhost: browsers resolve *.localhost to loopback). */
  domain: string;
  /** MAYFLY_ROUTER_PORT: where the router listens (default 8081; 0 picks a free port, for tests). */
  port: number;
  /**
   * MAYFLY_ROUTER_BIND: the address the router listens on (default 127.0.0.1: only this host, e.g.
   * a TLS proxy in front; 0.0.0.0 or :: for every interface).
   */
  bind: string;
  /** MAYFLY_ROUTER_PUBLIC_SCHEME: scheme of the public addresses (https behind a TLS proxy). */
  publicScheme: 'http' | 'https';
  /** MAYFLY_ROUTER_PUBLIC_PORT: port of the public addresses (default the router's; 80/443 are left out of URLs). */
  publicPort: number;
  /** MAYFLY_ACTIVITY_FLUSH: how often the router writes the traffic it saw to PostgreSQL. */
  activityFlushMs: number;
}

type Helpers = ConfigReader;

const HOSTNAME = /^(?=.{1,200}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

export function loadRouterConfig(env: NodeJS.ProcessEnv, h: Helpers): RouterConfig {
  const domain = (env.MAYFLY_DOMAIN || 'localhost').toLowerCase().replace(/\.$/, '');
  if (!HOSTNAME.test(domain)) throw new ConfigError('MAYFLY_DOMAIN', `must be a DNS name such as "preview.example.com", got "${env.MAYFLY_DOMAIN}"`);
  const scheme = (env.MAYFLY_ROUTER_PUBLIC_SCHEME || 'http').toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') throw new ConfigError('MAYFLY_ROUTER_PUBLIC_SCHEME', `must be http or https, got "${scheme}"`);
  const port = h.int('MAYFLY_ROUTER_PORT', 8081, 0, 65535);
  const bind = (env.MAYFLY_ROUTER_BIND || '127.0.0.1').trim().replace(/^\[(.*)\]$/, '$1');
  if (!isIP(bind)) throw new ConfigError('MAYFLY_ROUTER_BIND', `must be an IP address to listen on, such as 127.0.0.1 (this host only) or 0.0.0.0 (every interface), got "${String(env.MAYFLY_ROUTER_BIND).slice(0, 60)}"`);
  const config: RouterConfig = {
    domain,
    port,
    bind,
    publicScheme: scheme,
    publicPort: h.int('MAYFLY_ROUTER_PUBLIC_PORT', port, 1, 65535),
    activityFlushMs: h.duration('MAYFLY_ACTIVITY_FLUSH', '5s'),
  };
  return Object.freeze(config);
}
