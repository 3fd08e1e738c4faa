import { ConfigError, type ConfigReader } from './read.js';

/**
 * Configuration of what operators see: metrics and log format. Part of the one frozen Config
 * (config.ops); parsed by loadConfig.
 */
export interface OpsConfig {
  /**
   * MAYFLY_METRICS_TOKEN: when set, /metrics (web and worker) answers only
   * `Authorization: Bearer <token>`; unset, it answers only clients on the loopback interface.
   */
  metricsToken?: string;
  /**
   * MAYFLY_WORKER_METRICS_PORT: the worker's own /metrics, on 127.0.0.1 only; 0 takes any free
   * port, `off` (undefined here) serves none.
   */
  workerMetricsPort: number | undefined;
  /**
   * The variable is unset, so the port is only the default: when another worker on this host has
   * it, the worker takes the next free one (worker/listen.ts) instead of refusing to start.
   */
  workerMetricsPortFallback: boolean;
  /** LOG_FORMAT (json or pretty); NODE_ENV=development makes pretty the default. */
  logFormat: 'json' | 'pretty';
  /**
   * MAYFLY_ALLOW_REDIS_EVICTION: start although Redis's maxmemory-policy is not noeviction
   * (core/queue/redis.ts checks it at start; off by default, since an evicting Redis loses jobs).
   */
  allowRedisEviction: boolean;
}

type Helpers = ConfigReader;

export function loadOpsConfig(env: NodeJS.ProcessEnv, h: Helpers): OpsConfig {
  const token = env.MAYFLY_METRICS_TOKEN;
  if (token !== undefined && token !== '' && token.length < 16) throw new ConfigError('MAYFLY_METRICS_TOKEN', 'must be at least 16 characters long');
  const logFormat = (env.LOG_FORMAT || (env.NODE_ENV === 'development' ? 'pretty' : 'json')).toLowerCase();
  if (logFormat !== 'json' && logFormat !== 'pretty') throw new ConfigError('LOG_FORMAT', `must be "json" or "pretty", got "${logFormat}"`);
  const metricsOff = env.MAYFLY_WORKER_METRICS_PORT?.trim().toLowerCase() === 'off';
  return Object.freeze({
    ...(token ? { metricsToken: token } : {}),
    workerMetricsPort: metricsOff ? undefined : h.int('MAYFLY_WORKER_METRICS_PORT', 9465, 0, 65535),
    workerMetricsPortFallback: !env.MAYFLY_WORKER_METRICS_PORT,
    logFormat,
    allowRedisEviction: h.onOff('MAYFLY_ALLOW_REDIS_EVICTION', false),
  });
}
