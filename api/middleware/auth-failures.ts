import type { BlockList } from 'node:net';
import type { Request } from 'express';
import { MayflyError } from '../../core/domain/errors.js';

/**
 * The client's address: the connection's, or, when the connection comes from one of
 * MAYFLY_TRUSTED_PROXIES, the last address its X-Forwarded-For names (the one the proxy saw).
 */
export function clientAddress(req: Request, trustedProxies: BlockList): string {
  const remote = req.socket.remoteAddress ?? 'unknown';
  const plain = remote.startsWith('::ffff:') ? remote.slice(7) : remote;
  const family = plain.includes(':') ? 'ipv6' : 'ipv4';
  if (remote === 'unknown' || !trustedProxies.check(plain, family)) return plain;
  const forwarded = req.get('x-forwarded-for')?.split(',').map((s) => s.trim()).filter(Boolean).at(-1);
  return forwarded && /^[0-9a-fA-F.:]{2,45}$/.test(forwarded) ? forwarded : plain;
}

/** Too many wrong tokens from one address: nothing is checked until the window has passed. */
export class TooManyFailuresError extends MayflyError {
  constructor(retryAfterSeconds: number) {
    super('TOO_MANY_FAILED_SIGN_INS', 429, `too many wrong tokens from this address; try again in ${retryAfterSeconds} s`, { retryAfterSeconds });
  }
}

/**
 * Counts wrong API tokens per client address (the API's bearer check and the sign-in page share
 * one), so that nobody can try tokens at the speed of the network. Only failures count: a client
 * that sends a valid token is never slowed down, unless its address made `max` failures in the
 * last `windowMs`. Memory is bounded: at most `maxAddresses` addresses are tracked.
 */
export class AuthFailures {
  private readonly byAddress = new Map<string, { count: number; since: number }>();

  constructor(readonly max: number, private readonly windowMs = 60_000, private readonly maxAddresses = 10_000, private readonly now = () => Date.now()) {}

  /** Seconds until the address may try again, or 0 when it may now. */
  blockedFor(address: string): number {
    if (this.max <= 0) return 0;
    const entry = this.byAddress.get(address);
    if (!entry) return 0;
    const left = entry.since + this.windowMs - this.now();
    if (left <= 0) { this.byAddress.delete(address); return 0; }
    return entry.count >= this.max ? Math.ceil(left / 1000) : 0;
  }

  /** Throws TooManyFailuresError while the address is blocked. */
  check(address: string): void {
    const wait = this.blockedFor(address);
    if (wait > 0) throw new TooManyFailuresError(wait);
  }

  failed(address: string): void {
    if (this.max <= 0) return;
    const at = this.now();
    const entry = this.byAddress.get(address);
    if (entry && at - entry.since < this.windowMs) { entry.count++; return; }
    if (!entry && this.byAddress.size >= this.maxAddresses) this.byAddress.delete(this.byAddress.keys().next().value!);
    this.byAddress.set(address, { count: 1, since: at });
  }
}
