/** Reads an environment's database through `docker exec psql`, for the seed snapshot tests. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import type { Harness } from './harness.js';

/**
 * Fails, saying why, when this host's Docker volumes have no reflink: the tests about reflink
 * cannot mean anything there, and on this project's machine kind set-up provides it (Docker's
 * data root on XFS). Checked as the worker clones: in a real volume's folder, dockerd running.
 */
export async function assertHostHasReflink(docker: Docker): Promise<void> {
  const name = `mayfly-test-reflink-${process.pid}-${Date.now()}`;
  await docker.createVolume({ Name: name, Labels: { 'mayfly.probe': '1' } });
  try {
    const dir = (await docker.getVolume(name).inspect()).Mountpoint;
    const run = promisify(execFile);
    await run('sh', ['-c', 'echo probe > "$1/a" && cp --reflink=always "$1/a" "$1/b"', 'sh', dir]).catch(async (err: { stderr?: string }) => {
      const fs = (await run('stat', ['-f', '-c', '%T', dir]).catch(() => ({ stdout: '?' }))).stdout.trim();
      assert.fail(`this host's Docker volumes have no reflink (${dir} is on ${fs}: ${String(err.stderr).trim()}), so the reflink tests cannot run here. ` +
        'Set-up puts Docker\'s data root on an XFS file system with reflink; see its output and docs/operations/reflink.md');
    });
  } finally {
    await docker.getVolume(name).remove().catch(() => undefined);
  }
}

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
