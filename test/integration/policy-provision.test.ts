import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { labeledObjects, startHarness, uniqueName, waitUntil, type Harness, TEST_ACTOR } from '../helpers/harness.js';

/**
 * The worker holds every environment to the stack policy before it pulls or creates anything,
 * even one whose record got past the API (an older version, a changed MAYFLY_ALLOWED_REGISTRIES).
 */
describe('stack policy in provisioning', () => {
  let h: Harness;
  before(async () => { h = await startHarness(); });
  after(async () => { await h.close(); });

  it('when a recorded environment names an image from a registry that is not allowed, then it fails with POLICY_VIOLATION and nothing is pulled or created', async () => {
    const name = uniqueName('policy');
    const images = { ...h.ctx.catalog.resolveImages('shop', undefined, {}), web: 'evil.example/mayfly/shop:main' };
    const { env } = await h.ctx.environments.deploy(TEST_ACTOR, { name, template: 'shop', owner: 'test', images, seed: 'demo', ttlSeconds: 600 }, { ttlGiven: true });
    const failed = await waitUntil('failed', 120_000, async () => { const e = await h.store.getById(env.id); return e?.status === 'failed' && e; });
    assert.equal(failed.failure?.code, 'POLICY_VIOLATION');
    assert.match(failed.failure!.message, /template "shop", service "web", key "image": registry "evil\.example" is not allowed/);
    const events = await h.store.events(env.id);
    assert.ok(!events.some((e) => e.type === 'pulled' || e.type === 'progress'), 'nothing was pulled or started');
    assert.deepEqual(await labeledObjects(h.docker, env.id), { containers: 0, networks: 0, volumes: 0 });
  });
});
