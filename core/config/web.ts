import { createHmac, randomBytes } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { ConfigError, type ConfigReader } from './read.js';

/**
 * Configuration of the web pages' sign-in and of the worker's internal endpoint (service state
 * and logs, which the web process cannot read itself: it never opens the Docker socket).
 * Part of the one frozen Config (config.web); parsed by loadConfig.
 */
export interface WebConfig {
  /** MAYFLY_TRUSTED_PROXIES: addresses (IPs or CIDRs) whose user header is believed. Empty: none. */
  trustedProxies: BlockList;
  /** The same list as text, for messages. */
  trustedProxiesText: string;
  /** MAYFLY_PROXY_USER_HEADERS: headers naming the signed-in person, first present wins (lowercase). */
  proxyUserHeaders: readonly string[];
  /** MAYFLY_SESSION_SECRET: key of the HMAC that signs session cookies. */
  sessionSecret: string;
  /** True when MAYFLY_SESSION_SECRET was unset and a random one was made for this process. */
  sessionSecretGenerated: boolean;
  /** MAYFLY_SESSION_TTL: how long a sign-in lasts. */
  sessionTtlMs: number;
  /** Cookies get `Secure` when MAYFLY_PUBLIC_URL is https. */
  secureCookies: boolean;
  /** MAYFLY_SSE_HEARTBEAT: how often an idle event stream sends a comment, so proxies keep it open. */
  sseHeartbeatMs: number;
  /** MAYFLY_AUTH_FAILURES_PER_MINUTE: wrong tokens one address may send per minute before 429 (0: no limit). */
  authFailuresPerMinute: number;
  /** MAYFLY_WORKER_INTERNAL_PORT: where the worker serves its internal endpoint, on 127.0.0.1; 0: any free port. */
  workerInternalPort: number;
  /**
   * The variable is unset, so the port is only the default: when another worker on this host has
   * it, the worker takes the next free one. Each worker registers where it listens (core/platform/internal-api.ts).
   */
  workerInternalPortFallback: boolean;
  /**
   * MAYFLY_WORKER_INTERNAL_URL: where the web process finds the worker. Unset, the web asks the
   * workers' registrations in Redis and falls back to this default (127.0.0.1 and the port).
   */
  workerInternalUrl: string;
  /** MAYFLY_WORKER_INTERNAL_URL was set: the web uses it alone, registrations are not asked. */
  workerInternalUrlGiven: boolean;
  /**
   * MAYFLY_WORKER_INTERNAL_SECRET: the shared secret both processes send/check. Unset: derived
   * from DATABASE_URL, which both processes hold already (whoever reads it can read the database).
   */
  workerInternalSecret: string;
}

type Helpers = ConfigReader;

/** "10.0.0.1, 192.168.0.0/16, ::1" -> a BlockList; a malformed entry names the variable. */
export function parseTrustedProxies(text: string): BlockList {
  const list = new BlockList();
  for (const entry of text.split(',').map((e) => e.trim()).filter(Boolean)) {
    const [addr, prefix, extra] = entry.split('/');
    const family = isIP(addr ?? '');
    if (!family || extra !== undefined) throw new ConfigError('MAYFLY_TRUSTED_PROXIES', `has an entry that is not an IP address or CIDR: "${entry.slice(0, 60)}"`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) { list.addAddress(addr!, type); continue; }
    const bits = Number(prefix);
    if (!/^\d+$/.test(prefix) || bits > (family === 4 ? 32 : 128)) throw new ConfigError('MAYFLY_TRUSTED_PROXIES', `has a CIDR with a bad prefix length: "${entry.slice(0, 60)}"`);
    list.addSubnet(addr!, bits, type);
  }
  return list;
}

export function loadWebConfig(env: NodeJS.ProcessEnv, h: Helpers): WebConfig {
  const headers = (env.MAYFLY_PROXY_USER_HEADERS || 'x-forwarded-user,x-forwarded-email')
    .split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  for (const header of headers) {
    if (!/^[a-z0-9-]{1,64}$/.test(header)) throw new ConfigError('MAYFLY_PROXY_USER_HEADERS', `has an invalid header name: "${header.slice(0, 40)}"`);
  }
  const given = env.MAYFLY_SESSION_SECRET ?? '';
  if (given && given.length < 16) throw new ConfigError('MAYFLY_SESSION_SECRET', 'must be at least 16 characters');
  const port = h.int('MAYFLY_WORKER_INTERNAL_PORT', 8091, 0, 65535);
  const internalSecret = env.MAYFLY_WORKER_INTERNAL_SECRET || '';
  if (internalSecret && internalSecret.length < 16) throw new ConfigError('MAYFLY_WORKER_INTERNAL_SECRET', 'must be at least 16 characters');
  return {
    trustedProxies: parseTrustedProxies(env.MAYFLY_TRUSTED_PROXIES ?? ''),
    trustedProxiesText: env.MAYFLY_TRUSTED_PROXIES ?? '',
    proxyUserHeaders: Object.freeze(headers),
    sessionSecret: given || randomBytes(32).toString('base64url'),
    sessionSecretGenerated: !given,
    sessionTtlMs: h.duration('MAYFLY_SESSION_TTL', '12h'),
    secureCookies: (env.MAYFLY_PUBLIC_URL ?? '').toLowerCase().startsWith('https:'),
    sseHeartbeatMs: h.duration('MAYFLY_SSE_HEARTBEAT', '15s'),
    authFailuresPerMinute: h.int('MAYFLY_AUTH_FAILURES_PER_MINUTE', 20, 0, 100_000),
    workerInternalPort: port,
    workerInternalPortFallback: !env.MAYFLY_WORKER_INTERNAL_PORT,
    workerInternalUrlGiven: !!env.MAYFLY_WORKER_INTERNAL_URL,
    workerInternalUrl: h.url('MAYFLY_WORKER_INTERNAL_URL', `http://127.0.0.1:${port || 8091}`, ['http:', 'https:']).replace(/\/$/, ''),
    workerInternalSecret: internalSecret || createHmac('sha256', 'mayfly-worker-internal').update(env.DATABASE_URL ?? '').digest('base64url'),
  };
}
