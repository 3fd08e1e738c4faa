import type { RedisOptions } from 'bullmq';
import { Redis } from 'ioredis';

/**
 * Connection options for BullMQ. Workers wait for Redis forever (maxRetriesPerRequest: null, as
 * BullMQ requires); producers in the API fail fast instead of hanging while Redis is down.
 */
export function redisOptions(url: string, role: 'worker' | 'producer'): RedisOptions {
  const u = new URL(url);
  const options: RedisOptions = {
    host: u.hostname,
    port: Number(u.port || 6379),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.pathname.length > 1 ? { db: Number(u.pathname.slice(1)) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
  if (role === 'worker') return { ...options, maxRetriesPerRequest: null };
  return { ...options, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000 };
}

/** The variable that lets the processes start on a Redis that may evict keys. */
export const REDIS_EVICTION_OVERRIDE = 'MAYFLY_ALLOW_REDIS_EVICTION';

/** The policy, from INFO (which managed services allow where CONFIG GET is often disabled). */
export function maxmemoryPolicyOf(info: string): string | undefined {
  return /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
}

/** Redis's maxmemory-policy, as /readyz shows it ('unknown' when INFO does not say). */
export async function readMaxmemoryPolicy(client: { info(): Promise<string> }): Promise<string> {
  return maxmemoryPolicyOf(await client.info()) ?? 'unknown';
}

/**
 * Why a policy is refused, or undefined when it is noeviction (or the operator overrode it).
 * Any other policy lets Redis delete keys under memory pressure: BullMQ's jobs, locks and
 * schedules vanish silently, and the reconciler can only rebuild some of that from PostgreSQL.
 */
export function maxmemoryPolicyProblem(policy: string, allowEviction: boolean): string | undefined {
  if (policy === 'noeviction' || allowEviction) return undefined;
  return `Redis has maxmemory-policy ${policy}, but Mayfly needs noeviction: under memory pressure Redis would delete ` +
    'queued jobs, their locks and schedules without a trace. Fix it with `redis-cli config set maxmemory-policy noeviction` ' +
    '(and `maxmemory-policy noeviction` in redis.conf so it survives a restart), ' +
    `or set ${REDIS_EVICTION_OVERRIDE}=on to start anyway`;
}

export interface RedisPolicyCheck {
  maxmemoryPolicy: string;
  /** The operator's override let an evicting policy through. */
  overridden: boolean;
}

/**
 * The start-up check of both processes: reads Redis's maxmemory-policy over a connection of its
 * own and throws (with what, which setting and how to fix it) when it is not noeviction and
 * MAYFLY_ALLOW_REDIS_EVICTION is not on. A Redis that does not answer within `waitMs` does not
 * stop the start (work waits for Redis anyway): the check goes on in the background until Redis
 * answers, and a refusal found then goes to `onLateRefusal` (the process then exits).
 */
export async function checkRedisAtStart(url: string, opts: {
  allowEviction: boolean;
  logger: { info(o: object, m: string): void; warn(o: object, m: string): void };
  onLateRefusal: (err: Error) => void;
  waitMs?: number;
}): Promise<RedisPolicyCheck | undefined> {
  const client = new Redis({ ...redisOptions(url, 'worker'), lazyConnect: true, connectTimeout: 2000, retryStrategy: (n: number) => Math.min(n * 500, 5000) });
  client.on('error', () => undefined); // retried; reported by the warning below and by /readyz
  const check = (async (): Promise<RedisPolicyCheck> => {
    try {
      const maxmemoryPolicy = await readMaxmemoryPolicy(client);
      const problem = maxmemoryPolicy === 'unknown' ? undefined : maxmemoryPolicyProblem(maxmemoryPolicy, opts.allowEviction);
      if (problem) throw new Error(problem);
      return { maxmemoryPolicy, overridden: maxmemoryPolicy !== 'noeviction' && maxmemoryPolicy !== 'unknown' };
    } finally {
      client.disconnect();
    }
  })();
  const report = (r: RedisPolicyCheck) => {
    if (r.overridden) opts.logger.warn({ maxmemoryPolicy: r.maxmemoryPolicy }, `Redis may evict keys (maxmemory-policy ${r.maxmemoryPolicy}); starting anyway because ${REDIS_EVICTION_OVERRIDE}=on: jobs can vanish under memory pressure`);
    else if (r.maxmemoryPolicy === 'unknown') opts.logger.warn({}, 'Redis did not report its maxmemory-policy (INFO); make sure it is noeviction');
    else opts.logger.info({ maxmemoryPolicy: r.maxmemoryPolicy }, 'Redis maxmemory-policy checked');
    return r;
  };
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), opts.waitMs ?? 5000); timer.unref(); });
  const first = await Promise.race([check, late]).finally(() => clearTimeout(timer));
  if (first !== 'late') return report(first);
  opts.logger.warn({ waitMs: opts.waitMs ?? 5000 }, 'Redis does not answer yet: its maxmemory-policy is checked once it does');
  check.then(report, opts.onLateRefusal);
  return undefined;
}
