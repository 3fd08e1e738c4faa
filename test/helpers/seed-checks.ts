/** Reads an environment's database through `docker exec psql`, for the seed snapshot tests. */
import assert from 'node:assert/strict';
import type { Harness } from './harness.js';

export async function psql(h: Harness, envId: string, sql: string): Promise<string> {
  const env = await h.store.getById(envId);
  assert.ok(env, `environment ${envId} exists`);
  const { exitCode, output } = await h.runtime.exec({ id: env.id, project: env.project, generation: env.generation }, 'db',
    ['psql', '-X', '-qAt', '-v', 'ON_ERROR_STOP=1', '-U', 'shop', '-d', 'shop', '-c', sql]);
  assert.equal(exitCode, 0, output);
  return output.trim();
}

/** Row count and an order-independent checksum of the products table. */
export async function productsFingerprint(h: Harness, envId: string): Promise<string> {
  return psql(h, envId, `SELECT count(*) || ':' || coalesce(md5(string_agg(id || ',' || name || ',' || price_cents, ';' ORDER BY id)), '') FROM products`);
}

export async function ready(h: Harness, name: string, body: Record<string, unknown>): Promise<{ id: string; status: string; database: { strategy: string; snapshot: string | null } | null }> {
  const res = await h.api('PUT', `/api/v1/environments/${name}?wait=180`, body);
  assert.ok([200, 202].includes(res.status), JSON.stringify(res.body));
  assert.equal(res.body.status, 'ready', JSON.stringify(res.body.failure));
  return res.body;
}

export async function destroyed(h: Harness, name: string): Promise<void> {
  const res = await h.api('DELETE', `/api/v1/environments/${name}?wait=60`);
  assert.equal(res.body.status, 'destroyed');
}
