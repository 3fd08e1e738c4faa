/**
 * Data-workflow fixtures. For tests that need no worker: an environment of the shop template moved
 * on to ready as the worker would, and a checkpoint of it marked taken. For tests with the worker:
 * a bug capsule waited for until it is taken.
 */
import assert from 'node:assert/strict';
import { uniqueName, waitUntil, type Harness } from './harness.js';
import type { CheckpointStore } from '../../core/store/checkpoints.js';

/** An environment of the shop template (it has a database), requested with `token`, moved on to ready as the worker would. */
export async function readyEnvironment(h: Harness, token: string, prefix: string): Promise<string> {
  const name = uniqueName(prefix);
  const res = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop', ttl: '1h' }, { Authorization: `Bearer ${token}` });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  const env = (await h.store.getByName(name))!;
  assert.equal((await h.ctx.admission.tryStart(env.id, env.generation, 'provisioning started')).outcome, 'started');
  assert.ok(await h.store.transition(env.id, 'ready', { set: { ready_at: new Date(), seeded_at: new Date() }, event: { type: 'ready', message: 'ready' } }));
  return name;
}

/** A checkpoint of the environment, taken (ready) as the worker would. */
export async function readyCheckpoint(h: Harness, checkpoints: CheckpointStore, name: string, by = 'alice'): Promise<string> {
  const env = (await h.store.getByName(name))!;
  const cp = await checkpoints.add(env, env.generation, 'manual', by);
  assert.ok(await checkpoints.markReady(cp.id, 48 * 1024 * 1024, 120));
  return cp.id;
}

/** Bug capsule `id` once the worker has taken it (GET /api/v1/capsules/<id> as `headers`); a failed one fails the test saying why. */
export function takenCapsule(h: Harness, id: string, headers: Record<string, string>): Promise<any> {
  return waitUntil(`bug capsule ${id} to be taken`, 240_000, async () => {
    const res = await h.api('GET', `/api/v1/capsules/${id}`, undefined, headers);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    if (res.body.status === 'failed') assert.fail(`capsule ${id} failed: ${res.body.error}`);
    return res.body.status === 'ready' ? res.body : undefined;
  });
}
