import dns from 'node:dns';

/**
 * Browsers and curl resolve every `*.localhost` name to loopback (RFC 6761); Node's resolver
 * asks the system, which usually does not. Tests fetch environments at the router's addresses
 * (`http://<name>.localhost:<port>`) with plain fetch, so this process resolves them like a
 * browser does. Only names under `.localhost` are affected.
 */
let installed = false;
export function resolveLocalhostSubdomains(): void {
  if (installed) return;
  installed = true;
  const original = dns.lookup;
  (dns as { lookup: unknown }).lookup = function lookup(hostname: string, options: unknown, callback?: unknown) {
    const host = typeof hostname === 'string' && /\.localhost\.?$/i.test(hostname) ? '127.0.0.1' : hostname;
    return (original as (...args: unknown[]) => unknown).call(dns, host, options, callback);
  };
}
