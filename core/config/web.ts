import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import path from 'node:path';
import { ConfigError, type ConfigReader } from './read.js';
import { INTERNAL_SECRET_FILE } from '../platform/internal-secret.js';

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
  /** MAYFLY_WORKER_INTERNAL_PORT: where the worker serves its internal endpoint; 0: any free port. */
  workerInternalPort: number;
  /** MAYFLY_WORKER_INTERNAL_HOST: the address it listens on; 127.0.0.1 (loopback only) unless set. */
  workerInternalHost: string;
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
   * MAYFLY_WORKER_INTERNAL_SECRET (or the content of MAYFLY_WORKER_INTERNAL_SECRET_FILE): the
   * shared secret both processes send/check. Unset: a random one kept in `workerInternalSecretFile`
   * (core/platform/internal-secret.ts), made at the first start; never derived from other settings.
   */
  workerInternalSecret?: string;
  /** `<MAYFLY_STATE_DIR>/worker-internal-secret`: where the generated secret is kept (mode 0600). */
  workerInternalSecretFile: string;
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

/** The internal secret as given: MAYFLY_WORKER_INTERNAL_SECRET, or the content of MAYFLY_WORKER_INTERNAL_SECRET_FILE. */
function givenInternalSecret(env: NodeJS.ProcessEnv): string | undefined {
  const value = env.MAYFLY_WORKER_INTERNAL_SECRET || '';
  const file = env.MAYFLY_WORKER_INTERNAL_SECRET_FILE || '';
  if (value && file) throw new ConfigError('MAYFLY_WORKER_INTERNAL_SECRET_FILE', 'and MAYFLY_WORKER_INTERNAL_SECRET are both set: give the secret one way');
  if (value) {
    if (value.length < 16) throw new ConfigError('MAYFLY_WORKER_INTERNAL_SECRET', 'must be at least 16 characters');
    return value;
  }
  if (!file) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    // The error names the file, never its content.
    throw new ConfigError('MAYFLY_WORKER_INTERNAL_SECRET_FILE', `names a file that cannot be read: ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (text.length < 16) throw new ConfigError('MAYFLY_WORKER_INTERNAL_SECRET_FILE', `names a file holding fewer than 16 characters: ${file}`);
  return text;
}

export function loadWebConfig(env: NodeJS.ProcessEnv, h: Helpers, stateDir: string): WebConfig {
  const headers = (env.MAYFLY_PROXY_USER_HEADERS || 'x-forwarded-user,x-forwarded-email')
    .split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  for (const header of headers) {
    if (!/^[a-z0-9-]{1,64}$/.test(header)) throw new ConfigError('MAYFLY_PROXY_USER_HEADERS', `has an invalid header name: "${header.slice(0, 40)}"`);
  }
  const given = env.MAYFLY_SESSION_SECRET ?? '';
  if (given && given.length < 16) throw new ConfigError('MAYFLY_SESSION_SECRET', 'must be at least 16 characters');
  const port = h.int('MAYFLY_WORKER_INTERNAL_PORT', 8091, 0, 65535);
  const internalSecret = givenInternalSecret(env);
  const internalHost = env.MAYFLY_WORKER_INTERNAL_HOST || '127.0.0.1';
  if (!isIP(internalHost)) throw new ConfigError('MAYFLY_WORKER_INTERNAL_HOST', `must be an IP address to listen on (127.0.0.1 by default), got "${internalHost.slice(0, 60)}"`);
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
    workerInternalHost: internalHost,
    workerInternalPortFallback: !env.MAYFLY_WORKER_INTERNAL_PORT,
    workerInternalUrlGiven: !!env.MAYFLY_WORKER_INTERNAL_URL,
    workerInternalUrl: h.url('MAYFLY_WORKER_INTERNAL_URL', `http://127.0.0.1:${port || 8091}`, ['http:', 'https:']).replace(/\/$/, ''),
    ...(internalSecret ? { workerInternalSecret: internalSecret } : {}),
    workerInternalSecretFile: path.join(stateDir, INTERNAL_SECRET_FILE),
  };
}
