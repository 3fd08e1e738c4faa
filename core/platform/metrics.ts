import { createHash, timingSafeEqual } from 'node:crypto';
import { Registry, collectDefaultMetrics } from 'prom-client';

/**
 * What both processes' /metrics share: a registry per process (never prom-client's global one:
 * the test harness runs the web app and the worker in one process) and the rule of who may read.
 */
export function newRegistry(processName: 'web' | 'worker'): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ process: processName });
  collectDefaultMetrics({ register: registry, prefix: 'mayfly_' });
  // prom-client also exports the sums of its by-type gauges as gauges named *_total, a suffix
  // that Prometheus keeps for counters (`promtool check metrics` rejects them). The by-type
  // gauges stay: sum(mayfly_nodejs_active_handles) is the same number.
  for (const name of UNCOUNTED_TOTALS) registry.removeSingleMetric(`mayfly_${name}`);
  return registry;
}

/** prom-client default metrics that are gauges despite their _total suffix (dropped, see above). */
export const UNCOUNTED_TOTALS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'] as const;

/** Seconds buckets from 50 ms to 5 min: provisioning phases range from a reflink clone to a cold pull. */
export const PHASE_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60, 120, 300];

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Who may read /metrics: with MAYFLY_METRICS_TOKEN, whoever sends it as a bearer token; without,
 * only clients on the loopback interface (a Prometheus on the same host, or a proxy that adds the
 * token). Metrics name templates and queue sizes: not secrets, but not for the open internet.
 */
export function metricsAccess(token: string | undefined, authorization: string | undefined, remoteAddress: string | undefined): 'ok' | 'unauthorized' | 'forbidden' {
  if (token) {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    return m && timingSafeEqual(digest(m[1]!), digest(token)) ? 'ok' : 'unauthorized';
  }
  return isLoopback(remoteAddress) ? 'ok' : 'forbidden';
}

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.replace(/^::ffff:/, '');
  return a === '::1' || /^127\.\d+\.\d+\.\d+$/.test(a);
}
