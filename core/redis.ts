import type { RedisOptions } from 'bullmq';

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
