import type { RouterConfig } from '../config/router.js';
import { NAME_PATTERN } from './requests.js';

/**
 * Environment addresses. Users see the router's address `http://<name>.<domain>:<port>` for the
 * entry service (stable across redeploys and wakes, which publish new host ports); the router
 * alone knows the internal targets (`endpoints`: service -> 127.0.0.1:<host port>).
 */

/** The public address of an environment through the router. */
export function environmentAddress(router: RouterConfig, name: string): string {
  const defaultPort = router.publicScheme === 'https' ? 443 : 80;
  const port = router.publicPort === defaultPort ? '' : `:${router.publicPort}`;
  return `${router.publicScheme}://${name}.${router.domain}${port}`;
}

/**
 * The public `urls` of an environment: the router's address for the entry service; any other
 * published service keeps its direct address on the Mayfly host (the router serves only the
 * entry service).
 */
export function publicUrls(router: RouterConfig, publicHost: string, name: string, entryService: string, endpoints: Record<string, string>): Record<string, string> {
  const urls: Record<string, string> = {};
  if (endpoints[entryService]) urls[entryService] = environmentAddress(router, name);
  for (const [service, target] of Object.entries(endpoints)) {
    if (service === entryService) continue;
    urls[service] = `http://${publicHost}:${target.slice(target.lastIndexOf(':') + 1)}`;
  }
  return urls;
}

/**
 * The environment name a Host header asks for: `<name>.<domain>[:port]`, case-insensitive, a
 * trailing dot allowed. Undefined for any other host (the bare domain, another domain, an IP,
 * nested sub-domains, a name Mayfly would never give).
 */
export function nameFromHost(host: string | undefined, domain: string): string | undefined {
  if (!host) return undefined;
  let h = host.trim().toLowerCase();
  if (h.startsWith('[')) return undefined; // an IPv6 literal
  h = h.replace(/:\d*$/, '').replace(/\.$/, '');
  const suffix = `.${domain}`;
  if (!h.endsWith(suffix)) return undefined;
  const name = h.slice(0, -suffix.length);
  return NAME_PATTERN.test(name) && !name.includes('.') ? name : undefined;
}
