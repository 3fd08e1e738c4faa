/**
 * Where outbound callbacks may go. A callback URL is chosen by whoever creates an environment,
 * and the worker calls it: without a check that is a blind SSRF into the worker's network
 * (loopback services, the cloud metadata endpoint, private hosts). By default every address that
 * is not a public unicast one is refused: loopback, private (RFC 1918, CGNAT, ULA), link-local
 * (and so the metadata address), unspecified, multicast, reserved, and the IPv6 forms that carry
 * an IPv4 address (mapped, compatible, NAT64, 6to4) when the IPv4 address is one of those.
 * MAYFLY_CALLBACK_ALLOW lists the exceptions: networks (CIDRs or addresses) and host names.
 *
 * Pure: no I/O here. core/doors/http-out.ts resolves the name, checks every address with
 * `refusal`, and connects to the address it checked.
 */
import { isIP } from 'node:net';

/** One network: the family, its first address as a number, and the prefix length. */
interface Net {
  family: 4 | 6;
  base: bigint;
  bits: number;
}

/** MAYFLY_CALLBACK_ALLOW, parsed. */
export interface CallbackAllowList {
  /** The setting as given, for messages. */
  readonly text: string;
  readonly nets: readonly Net[];
  /** Exact host names, lowercase. */
  readonly names: readonly string[];
  /** Host-name suffixes from `*.example.com` entries, with their leading dot: `.example.com`. */
  readonly suffixes: readonly string[];
}

export const EMPTY_ALLOW_LIST: CallbackAllowList = Object.freeze({ text: '', nets: [], names: [], suffixes: [] });

/** The variable that lists the exceptions. */
export const ALLOW_VARIABLE = 'MAYFLY_CALLBACK_ALLOW';

const V4_BITS = 32;
const V6_BITS = 128;

function parseV4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    n = (n << 8n) | BigInt(Number(p));
  }
  return n;
}

function parseV6(text: string): bigint | undefined {
  let t = text.toLowerCase();
  const zone = t.indexOf('%');
  if (zone >= 0) t = t.slice(0, zone);
  // A trailing dotted quad (::ffff:1.2.3.4) is two groups.
  const lastColon = t.lastIndexOf(':');
  const tail = t.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = parseV4(tail);
    if (v4 === undefined) return undefined;
    t = `${t.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const halves = t.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  let n = 0n;
  for (const g of all) {
    if (!/^[0-9a-f]{1,4}$/.test(g)) return undefined;
    n = (n << 16n) | BigInt(parseInt(g, 16));
  }
  return n;
}

/** An IP address as (family, number); undefined when `text` is not one. Brackets are allowed around IPv6. */
export function parseAddress(text: string): { family: 4 | 6; value: bigint } | undefined {
  const t = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const family = isIP(t.replace(/%.*$/, ''));
  if (family === 4) {
    const value = parseV4(t);
    return value === undefined ? undefined : { family: 4, value };
  }
  if (family === 6) {
    const value = parseV6(t);
    return value === undefined ? undefined : { family: 6, value };
  }
  return undefined;
}

function net(cidr: string): Net {
  const [addr, bits] = cidr.split('/');
  const parsed = parseAddress(addr!)!;
  return { family: parsed.family, base: parsed.value, bits: Number(bits) };
}

function inNet(family: 4 | 6, value: bigint, n: Net): boolean {
  if (family !== n.family) return false;
  const width = family === 4 ? V4_BITS : V6_BITS;
  const shift = BigInt(width - n.bits);
  return (value >> shift) === (n.base >> shift);
}

/** IPv4 ranges that are refused, most specific first. */
const V4_BLOCKED: [Net, string][] = [
  [net('169.254.169.254/32'), 'the cloud metadata address (link-local)'],
  [net('0.0.0.0/8'), 'unspecified ("this network", 0.0.0.0/8)'],
  [net('10.0.0.0/8'), 'private (RFC 1918, 10.0.0.0/8)'],
  [net('100.64.0.0/10'), 'carrier-grade NAT shared space (100.64.0.0/10)'],
  [net('127.0.0.0/8'), 'loopback (127.0.0.0/8)'],
  [net('169.254.0.0/16'), 'link-local (169.254.0.0/16)'],
  [net('172.16.0.0/12'), 'private (RFC 1918, 172.16.0.0/12)'],
  [net('192.0.0.0/24'), 'IETF protocol assignments (192.0.0.0/24, which holds metadata addresses too)'],
  [net('192.168.0.0/16'), 'private (RFC 1918, 192.168.0.0/16)'],
  [net('198.18.0.0/15'), 'benchmarking (198.18.0.0/15)'],
  [net('224.0.0.0/4'), 'multicast (224.0.0.0/4)'],
  [net('240.0.0.0/4'), 'reserved or broadcast (240.0.0.0/4)'],
];

/** IPv6 ranges that are refused outright (the ones carrying IPv4 are handled below). */
const V6_BLOCKED: [Net, string][] = [
  [net('::/128'), 'unspecified (::)'],
  [net('::1/128'), 'loopback (::1)'],
  [net('64:ff9b:1::/48'), 'local-use NAT64 (64:ff9b:1::/48)'],
  [net('fc00::/7'), 'unique local (ULA, fc00::/7)'],
  [net('fe80::/10'), 'link-local (fe80::/10)'],
  [net('fec0::/10'), 'site-local (fec0::/10)'],
  [net('ff00::/8'), 'multicast (ff00::/8)'],
];

/** IPv6 forms that carry an IPv4 address, and where it sits. */
const V6_CARRYING_V4: [Net, string, (v: bigint) => bigint][] = [
  [net('::ffff:0:0/96'), 'IPv4-mapped', (v) => v & 0xffffffffn],
  [net('::/96'), 'IPv4-compatible', (v) => v & 0xffffffffn],
  [net('64:ff9b::/96'), 'NAT64', (v) => v & 0xffffffffn],
  [net('2002::/16'), '6to4', (v) => (v >> 80n) & 0xffffffffn],
];

function v4Text(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.');
}

/**
 * Why an address must not be called, or undefined for a public unicast address.
 * `address` is an IPv4 or IPv6 literal (brackets and a zone allowed); anything else is refused.
 */
export function blockedReason(address: string): string | undefined {
  const a = parseAddress(address);
  if (!a) return 'not an IP address';
  if (a.family === 4) return V4_BLOCKED.find(([n]) => inNet(4, a.value, n))?.[1];
  for (const [n, reason] of V6_BLOCKED) if (inNet(6, a.value, n)) return reason;
  for (const [n, form, extract] of V6_CARRYING_V4) {
    if (!inNet(6, a.value, n)) continue;
    const v4 = extract(a.value);
    const inner = V4_BLOCKED.find(([b]) => inNet(4, v4, b))?.[1];
    return inner ? `${form} form of ${v4Text(v4)}, ${inner}` : undefined;
  }
  return undefined;
}

/** The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4), for allow-list matching. */
function carriedV4(a: { family: 4 | 6; value: bigint }): bigint | undefined {
  if (a.family !== 6) return undefined;
  for (const [n, , extract] of V6_CARRYING_V4) {
    if (inNet(6, a.value, n) && a.value > 1n) return extract(a.value);
  }
  return undefined;
}

const HOST_NAME = /^(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?)(\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?)*$/;

/**
 * MAYFLY_CALLBACK_ALLOW: comma-separated CIDRs (`10.0.0.0/8`, `fd00::/8`), addresses
 * (`127.0.0.1`), host names (`hooks.internal.example`) and name suffixes (`*.corp.example`).
 * Throws an Error naming the bad entry; config wraps it in a ConfigError naming the variable.
 */
export function parseCallbackAllow(text: string): CallbackAllowList {
  const nets: Net[] = [];
  const names: string[] = [];
  const suffixes: string[] = [];
  for (const raw of text.split(',').map((e) => e.trim()).filter(Boolean)) {
    const entry = raw.toLowerCase();
    const [addr, prefix, extra] = entry.split('/');
    const parsed = parseAddress(addr!);
    if (parsed) {
      const width = parsed.family === 4 ? V4_BITS : V6_BITS;
      if (extra !== undefined || (prefix !== undefined && (!/^\d{1,3}$/.test(prefix) || Number(prefix) > width))) {
        throw new Error(`has a CIDR with a bad prefix length: "${raw.slice(0, 60)}"`);
      }
      nets.push({ family: parsed.family, base: parsed.value, bits: prefix === undefined ? width : Number(prefix) });
    } else if (entry.startsWith('*.') && HOST_NAME.test(entry.slice(2))) {
      suffixes.push(entry.slice(1));
    } else if (prefix === undefined && HOST_NAME.test(entry.replace(/\.$/, ''))) {
      names.push(entry.replace(/\.$/, ''));
    } else {
      throw new Error(`has an entry that is neither an IP address, a CIDR, a host name nor "*.domain": "${raw.slice(0, 60)}"`);
    }
  }
  return Object.freeze({ text, nets: Object.freeze(nets), names: Object.freeze(names), suffixes: Object.freeze(suffixes) });
}

/** Whether the allow-list names this host (exactly or by a `*.` suffix). */
export function allowsHost(allow: CallbackAllowList, hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, '');
  return allow.names.includes(h) || allow.suffixes.some((s) => h.endsWith(s));
}

/** Whether the allow-list has a network holding this address (an IPv6 form carrying IPv4 counts as that IPv4). */
export function allowsAddress(allow: CallbackAllowList, address: string): boolean {
  const a = parseAddress(address);
  if (!a) return false;
  const v4 = carriedV4(a);
  return allow.nets.some((n) => inNet(a.family, a.value, n) || (v4 !== undefined && inNet(4, v4, n)));
}

function bare(address: string): string {
  return address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
}

/**
 * Why calling `hostname` at `address` is refused, as a message that names the address and the
 * setting that would allow it; undefined when it may be called.
 */
export function refusal(allow: CallbackAllowList, hostname: string, address: string): string | undefined {
  const reason = blockedReason(address);
  if (!reason) return undefined;
  if (allowsHost(allow, hostname) || allowsAddress(allow, address)) return undefined;
  const ip = bare(address);
  const named = bare(hostname) === ip ? ip : `${hostname} (${ip})`;
  const entry = isIP(bare(hostname)) ? ip : `${ip} or ${hostname.toLowerCase()}`;
  return `refused to call ${named}: the address is ${reason}; outbound callbacks go to public addresses only, unless ${ALLOW_VARIABLE} allows it (add ${entry})`;
}

/** Host names that are loopback by definition (RFC 6761), whatever the resolver says. */
export function isLocalhostName(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, '');
  return h === 'localhost' || h.endsWith('.localhost');
}

/**
 * The problem with a callback URL's host that is visible without resolving it: an address
 * literal, or a localhost name, that is refused. Names are checked again, resolved, at every call.
 */
export function literalHostProblem(allow: CallbackAllowList, hostname: string): string | undefined {
  const h = bare(hostname);
  if (isIP(h)) return refusal(allow, h, h);
  if (isLocalhostName(h) && !allowsHost(allow, h)) {
    return `refused to call ${h}: the name is loopback; outbound callbacks go to public addresses only, unless ${ALLOW_VARIABLE} allows it (add ${h.toLowerCase()})`;
  }
  return undefined;
}
