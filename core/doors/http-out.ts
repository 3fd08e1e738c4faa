/**
 * Outbound HTTP of the notifier: always with a timeout, never following redirects, and with an
 * error that says what answered (or did not). Callbacks go through an address guard
 * (core/doors/outbound-guard.ts): the name is resolved here, every address it has is checked, and
 * the connection goes to an address that was checked (no second lookup a DNS rebinding could
 * answer differently).
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { refusal, type CallbackAllowList } from './outbound-guard.js';

export class OutboundError extends Error {
  /** `retryAfterMs`: how long the receiver asked us to wait (a 429's Retry-After), if it said. */
  constructor(message: string, readonly status?: number, readonly retryable = true, readonly retryAfterMs?: number) {
    super(message);
    this.name = 'OutboundError';
  }
}

/**
 * A call refused by the address guard, before any connection: the message names the host, the
 * address and the setting that would allow it. Retrying does not help; the setting does.
 */
export class OutboundRefused extends OutboundError {
  constructor(message: string, readonly address: string) {
    super(message, undefined, false);
    this.name = 'OutboundRefused';
  }
}

export interface PostOptions {
  /** Check every address the host has against this allow-list (callbacks); unset: no check (Slack, GitHub). */
  guard?: CallbackAllowList;
}

export async function postJson(url: string, body: string, headers: Record<string, string>, timeoutMs: number, opts: PostOptions = {}): Promise<{ status: number; text: string }> {
  if (opts.guard) return guardedPost(url, body, headers, timeoutMs, opts.guard);
  return sendJson('POST', url, body, headers, timeoutMs);
}

/**
 * One JSON request to an operator-configured API (GitHub's, GitLab's, Slack's): with a timeout,
 * never following a redirect, and an OutboundError naming the method, the URL and the answer
 * for anything but 2xx. `body` undefined: no body (GET).
 */
export async function sendJson(method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', url: string, body: string | undefined, headers: Record<string, string>, timeoutMs: number): Promise<{ status: number; text: string }> {
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), 'user-agent': 'mayfly-notifier', ...headers },
      ...(body !== undefined ? { body } : {}),
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.message);
    throw new OutboundError(`${method} ${safeUrl(url)} failed: ${why}`);
  }
  const text = await res.text().catch(() => '');
  return answered(url, res.status, text, method, retryAfterMs(res.headers.get('retry-after')));
}

/** A Retry-After header (seconds, or an HTTP date) in milliseconds, at most ten minutes; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  const ms = /^\d{1,9}$/.test(text) ? Number(text) * 1000 : Date.parse(text) - now;
  return Number.isFinite(ms) ? Math.min(600_000, Math.max(0, ms)) : undefined;
}

function answered(url: string, status: number, text: string, method = 'POST', retryAfter?: number): { status: number; text: string } {
  if (status < 200 || status >= 300) {
    // 4xx other than 408/429 will not get better by retrying (but we still retry a few times: receivers deploy too).
    throw new OutboundError(`${method} ${safeUrl(url)} answered ${status}: ${text.slice(0, 200)}`, status, true, retryAfter);
  }
  return { status, text };
}

/**
 * A lookup for http.request that resolves every address of the name, refuses the call when any
 * of them is refused (one bad answer is enough: the connection could go to it), and hands over
 * only addresses it checked. The socket connects to what this returns, not to a second answer.
 */
export function guardedLookup(allow: CallbackAllowList): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { all: true, family: options.family ?? 0, hints: options.hints ?? 0 }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      for (const a of addresses) {
        const problem = refusal(allow, hostname, a.address);
        if (problem) return callback(new OutboundRefused(problem, a.address), '', 0);
      }
      if (!addresses.length) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

const MAX_ANSWER = 64 * 1024;

async function guardedPost(url: string, body: string, headers: Record<string, string>, timeoutMs: number, allow: CallbackAllowList): Promise<{ status: number; text: string }> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new OutboundError(`POST ${safeUrl(url)} failed: not a URL`, undefined, false);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new OutboundError(`POST ${safeUrl(url)} failed: only http and https are called`, undefined, false);
  const hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  // An address literal is never looked up (net.connect skips the lookup): it is checked here.
  if (isIP(hostname)) {
    const problem = refusal(allow, hostname, hostname);
    if (problem) throw new OutboundRefused(problem, hostname);
  }
  const signal = AbortSignal.timeout(timeoutMs);
  const options: RequestOptions = {
    method: 'POST',
    hostname,
    port: u.port || undefined,
    path: `${u.pathname}${u.search}`,
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'mayfly-notifier', ...headers },
    lookup: guardedLookup(allow),
    signal,
    // The Host header and the TLS server name are the URL's host: the request names it, the socket goes to the checked address.
    agent: false,
  };
  return new Promise((resolve, reject) => {
    const fail = (err: Error & { code?: string }) => {
      if (err instanceof OutboundRefused) return reject(err);
      const why = signal.aborted ? `no answer within ${timeoutMs} ms` : (err.code ?? err.message);
      reject(new OutboundError(`POST ${safeUrl(url)} failed: ${why}`));
    };
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(options, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => { if (size < MAX_ANSWER) { chunks.push(c); size += c.length; } });
      res.on('end', () => {
        try {
          resolve(answered(url, res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8').slice(0, MAX_ANSWER)));
        } catch (err) {
          reject(err);
        }
      });
      res.on('error', fail);
    });
    req.on('error', fail);
    req.end(body);
  });
}

/** The URL without its query and credentials, for logs and errors. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/** One JSON request to an operator-configured API, its answer parsed (undefined when empty). */
export async function callJson<T>(method: 'GET' | 'POST' | 'PATCH' | 'PUT', url: string, body: unknown, headers: Record<string, string>, timeoutMs: number): Promise<T> {
  const { text } = await sendJson(method, url, body === undefined ? undefined : JSON.stringify(body), headers, timeoutMs);
  if (!text) return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new OutboundError(`${method} ${safeUrl(url)} answered something that is not JSON`);
  }
}
