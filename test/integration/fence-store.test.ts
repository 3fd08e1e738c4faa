import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness, TEST_ACTOR } from '../helpers/harness.js';
import { Fence, StoodDown } from '../../worker/jobs/fence.js';

/** The fence of a job run (worker/jobs/fence.ts) on real PostgreSQL: claims, checks and fenced writes. */
describe('fence: job runs claiming an environment, on real PostgreSQL', () => {
  let h: Harness;
  before(async () => { h = await startHarness({ worker: false }); });
  after(async () => { await h.close(); });

  const input = (name: string) => ({ name, template: 'shop', owner: 'test', images: { web: 'r/shop:main', db: 'r/pg:15' }, seed: 'demo', ttlSeconds: 60 });

  async function provisioning(name: string) {
    const { env } = await h.ctx.environments.recordDeploy(TEST_ACTOR, input(name), { ttlGiven: false });
    assert.ok(await h.store.transition(env.id, 'provisioning', { generation: 1, event: { type: 'provisioning', message: 'go' } }));
    return env;
  }

  it('when a second run claims the environment, then the first one stands down at its next check and its writes are refused', async () => {
    const env = await provisioning('fence-takeover');
    const first = (await Fence.claim(h.store, env.id, 1, ['provisioning']))!.fence;
    await first.check('create db');
    const second = (await Fence.claim(h.store, env.id, 1, ['provisioning']))!.fence;
    assert.equal(second.token.epoch, first.token.epoch + 1);

    await assert.rejects(first.check('create db'), (err: unknown) =>
      err instanceof StoodDown && err.step === 'create db' && /another run of this job took it over/.test(err.why));
    const before = (await h.store.events(env.id)).length;
    await assert.rejects(first.event('retry', 'attempt 1 failed'), StoodDown);
    assert.equal(await h.store.markSeeded(env.id, 1, first.token), false);
    assert.equal(await h.store.setSnapshot(env.id, 'k', 'reflink', first.token), false);
    assert.equal(await h.store.transition(env.id, 'ready', { generation: 1, from: ['provisioning'], fence: first.token, event: { type: 'ready', message: 'stale' } }), undefined);
    assert.equal((await h.store.events(env.id)).length, before, 'the stale run wrote nothing to the timeline');
    const now = (await h.store.getById(env.id))!;
    assert.equal(now.status, 'provisioning');
    assert.equal(now.seededAt, null);

    await second.check('create db');
    await second.event('progress', 'db: started');
    assert.equal(await h.store.markSeeded(env.id, 1, second.token), true);
    assert.ok(await h.store.transition(env.id, 'ready', { generation: 1, from: ['provisioning'], fence: second.token, event: { type: 'ready', message: 'ready' } }));
    // Ready: the fence of provisioning ends for the run that made it so, too.
    await assert.rejects(second.check('create db'), (err: unknown) => err instanceof StoodDown && /is ready now/.test(err.why));
  });

  it('when the environment is redeployed or destroyed meanwhile, then no run of the old generation can claim or keep it', async () => {
    const env = await provisioning('fence-redeploy');
    const run = (await Fence.claim(h.store, env.id, 1, ['provisioning']))!.fence;
    const redeployed = await h.ctx.environments.recordDeploy(TEST_ACTOR, { ...input('fence-redeploy'), images: { web: 'r/shop:pr-2', db: 'r/pg:15' } }, { ttlGiven: false });
    assert.equal(redeployed.env.generation, 2);
    await assert.rejects(run.check('start web'), (err: unknown) => err instanceof StoodDown && /generation 2/.test(err.why));
    assert.equal(await Fence.claim(h.store, env.id, 1, ['provisioning']), undefined, 'the old generation cannot claim it');
    assert.equal(await Fence.claim(h.store, env.id, 2, ['provisioning']), undefined, 'queued is not provisioning');
  });

  it('when a fence is not given, then the store writes as before (the reconciler, the doors)', async () => {
    const env = await provisioning('fence-none');
    await Fence.claim(h.store, env.id, 1, ['provisioning']);
    assert.equal(await h.store.addEvent(env.id, 'requeued', 'by the reconciler'), true);
    assert.equal(await h.store.markSeeded(env.id, 1), true);
  });
});
