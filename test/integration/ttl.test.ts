import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { JOB_EXPIRE } from '../../core/queue/jobs.js';
import { startHarness, labeledObjects, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';

describe('leases: an environment never outlives its TTL', () => {
  let h: Harness;
  before(async () => { h = await startHarness(); });
  after(async () => { await h.close(); });

  it('when an environment with a 30 s TTL expires, then it is destroyed within 15 s with reason "expired" and leaves nothing behind', async (t) => {
    const name = uniqueName('shop-ttl');
    const res = await h.api('PUT', `/api/v1/environments/${name}?wait=120`, { template: 'shop', ttl: '30s' });
    assert.equal(res.body.status, 'ready', JSON.stringify(res.body.failure));
    const expiresAt = Date.parse(res.body.expiresAt);
    const gone = await waitUntil('the expired environment to be destroyed', Math.max(0, expiresAt - Date.now()) + 15_000, async () => {
      const env = await h.store.getById(res.body.id);
      return env?.status === 'destroyed' ? env : undefined;
    });
    const lateMs = gone.destroyedAt!.getTime() - expiresAt;
    t.diagnostic(`destroyed ${lateMs} ms after expiresAt`);
    assert.ok(lateMs >= 0, 'not torn down before its lease ended');
    assert.ok(lateMs < 15_000, `destroyed ${lateMs} ms after expiry`);
    assert.equal(gone.destroyReason, 'expired');
    assert.deepEqual(await labeledObjects(h.docker, res.body.id), { containers: 0, networks: 0, volumes: 0 });
    const shown = await h.api('GET', `/api/v1/environments/${name}`);
    assert.equal(shown.body.status, 'destroyed');
    assert.equal(shown.body.destroyReason, 'expired');
  });

  it('when Redis loses the delayed expiry job, then the reconciler still tears the environment down from PostgreSQL', async () => {
    const name = uniqueName('shop-lost');
    const res = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop', ttl: '5s' });
    assert.equal(res.status, 202);
    // Lose every delayed expiry job, as a Redis without persistence would on a restart.
    const delayed = await h.queues.lifecycle.getJobs(['delayed', 'waiting']);
    const expiries = delayed.filter((j) => j.name === JOB_EXPIRE && j.data && (j.data as { environmentId?: string }).environmentId === res.body.id);
    assert.ok(expiries.length >= 1, 'an expiry job was scheduled');
    for (const j of expiries) await j.remove();
    const gone = await waitUntil('the reconciler to destroy the expired environment', 40_000, async () => {
      const env = await h.store.getById(res.body.id);
      return env?.status === 'destroyed' ? env : undefined;
    });
    assert.equal(gone.destroyReason, 'expired');
    assert.deepEqual(await labeledObjects(h.docker, res.body.id), { containers: 0, networks: 0, volumes: 0 });
  });

  it('when a lease is extended, then the old expiry does not tear it down', async () => {
    const name = uniqueName('shop-ext');
    const res = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop', ttl: '4s' });
    const extended = await h.api('POST', `/api/v1/environments/${name}/extend`, { ttl: '1h' });
    assert.equal(extended.status, 200, JSON.stringify(extended.body));
    assert.ok(Date.parse(extended.body.expiresAt) > Date.now() + 3_500_000);
    await new Promise((r) => setTimeout(r, 7000));
    const env = await h.store.getById(res.body.id);
    assert.notEqual(env?.status, 'destroying');
    assert.notEqual(env?.status, 'destroyed');
    const bad = await h.api('POST', `/api/v1/environments/${name}/extend`, { ttl: '900h' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details[0].field, 'ttl');
    await h.api('DELETE', `/api/v1/environments/${name}?wait=60`);
  });
});
