import { Router } from 'express';
import { formatDuration } from '../../core/domain/duration.js';
import { FACT_CLONE } from '../../core/store/snapshots.js';
import { maxmemoryPolicyProblem, readMaxmemoryPolicy } from '../../core/queue/redis.js';
import type { ApiDeps } from '../deps.js';
import { rule } from '../access.js';

/** What this module uses of the web process (narrow: a test gives it only these). */
type Deps = Pick<ApiDeps, 'catalog' | 'probes' | 'queues' | 'snapshots'>;

export function templatesRouter(deps: Deps): Router {
  const router = Router();
  router.get('/', rule('template.list'), (_req, res) => {
    res.json({
      templates: deps.catalog.list().map((t) => ({
        name: t.name,
        description: t.description,
        entryService: t.entryService,
        services: Object.fromEntries(Object.entries(t.images).map(([s, i]) => [s, { image: i.image, taggable: i.taggable }])),
        seeds: t.seeds,
        ttl: { default: formatDuration(t.ttl.defaultSeconds), max: formatDuration(t.ttl.maxSeconds) },
        // Opt-in sleep when idle: stop the containers after this long without traffic (null: never).
        sleep: t.sleep ? { after: formatDuration(t.sleep.afterSeconds) } : null,
        // Who may open its environments' addresses through the router (an environment may override it).
        access: t.access,
      })),
    });
  });
  return router;
}

/** The worker's last clone strategy decision, as /readyz shows it (null before its first probe). */
async function cloneStrategyDetail(deps: Deps): Promise<Record<string, unknown> | null> {
  const fact = (await deps.snapshots.fact<StrategyFactView>(FACT_CLONE).catch(() => undefined))?.value;
  if (!fact) return null;
  return {
    chosen: fact.chosen, expected: fact.expected ?? fact.chosen, downgraded: fact.downgraded ?? false, probedAt: fact.probedAt,
    ...(fact.downgraded ? { warning: `seed clones use ${fact.chosen}, not ${fact.expected}: ${fact.reason}` } : {}),
  };
}
interface StrategyFactView { chosen: string; expected?: string; downgraded?: boolean; reason?: string; probedAt?: string }

/**
 * Redis's maxmemory-policy as /readyz shows it, read now (an operator may change it after the
 * start-up check); null when Redis does not answer (checks.redis says why).
 */
async function redisDetail(deps: Deps): Promise<Record<string, unknown> | null> {
  try {
    const client = await deps.queues.provision.getBackend().client;
    const maxmemoryPolicy = await Promise.race([readMaxmemoryPolicy(client),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timed out')), 2000).unref())]);
    const problem = maxmemoryPolicy === 'unknown' ? undefined : maxmemoryPolicyProblem(maxmemoryPolicy, false);
    return { maxmemoryPolicy, ...(problem ? { warning: problem } : {}) };
  } catch {
    return null;
  }
}

/** Liveness (the process answers) and readiness (its engines answer). No auth: for probes. */
export function healthRouter(deps: Deps): Router {
  const router = Router();
  router.get('/healthz', rule('public'), (_req, res) => { res.json({ status: 'ok' }); });
  router.get('/readyz', rule('public'), async (_req, res) => {
    const check = async (probe: () => Promise<void>) => {
      const started = Date.now();
      try {
        await Promise.race([probe(), new Promise((_, reject) => setTimeout(() => reject(new Error('timed out after 2 s')), 2000).unref())]);
        return { ok: true, ms: Date.now() - started };
      } catch (err) {
        return { ok: false, error: (err as Error).message };
      }
    };
    const [postgres, redis, cloneStrategy, redisPolicy] = await Promise.all([check(deps.probes.postgres), check(deps.probes.redis), cloneStrategyDetail(deps), redisDetail(deps)]);
    const ok = postgres.ok && redis.ok;
    // The clone strategy and Redis's eviction policy are detail, not readiness: a downgrade still
    // serves, at a cost; an evicting Redis was refused at start unless the operator overrode it.
    res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'unavailable', checks: { postgres, redis }, detail: { cloneStrategy, redis: redisPolicy } });
  });
  return router;
}
