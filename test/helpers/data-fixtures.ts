/**
 * Data-workflow fixtures for tests that need no worker: an environment of the shop template moved
 * on to ready as the worker would, and a checkpoint of it marked taken.
 */
import assert from 'node:assert/strict';
import { uniqueName, type Harness } from './harness.js';
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
