import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness, TEST_ACTOR } from '../helpers/harness.js';

describe('the environment store on real PostgreSQL', () => {
  let h: Harness;
  before(async () => { h = await startHarness({ worker: false }); });
  after(async () => { await h.close(); });

  const input = (name: string) => ({ name, template: 'shop', owner: 'test', images: { web: 'r/shop:main', db: 'r/pg:15' }, seed: 'demo', ttlSeconds: 60 });

  it('when ten transitions race for one environment, then exactly one wins and one event is written', async () => {
    const { env } = await h.ctx.environments.recordDeploy(TEST_ACTOR, input('race-transition'), { ttlGiven: false });
    const results = await Promise.all(Array.from({ length: 10 }, () =>
      h.store.transition(env.id, 'provisioning', { generation: 1, event: { type: 'provisioning', message: 'go' } })));
    assert.equal(results.filter(Boolean).length, 1);
    const events = (await h.store.events(env.id)).filter((e) => e.type === 'provisioning');
    assert.equal(events.length, 1);
  });

  it('when a transition is not allowed from the current status, then nothing changes', async () => {
    const { env } = await h.ctx.environments.recordDeploy(TEST_ACTOR, input('guarded'), { ttlGiven: false });
    assert.equal(await h.store.transition(env.id, 'ready', { event: { type: 'ready', message: 'skip' } }), undefined, 'queued cannot jump to ready');
    assert.equal(await h.store.transition(env.id, 'destroyed', { event: { type: 'destroyed', message: 'skip' } }), undefined);
    assert.equal((await h.store.getById(env.id))?.status, 'queued');
  });

  it('when a worker of an older generation reports ready, then it is ignored', async () => {
    const { env } = await h.ctx.environments.recordDeploy(TEST_ACTOR, input('generations'), { ttlGiven: false });
    await h.store.transition(env.id, 'provisioning', { generation: 1, event: { type: 'p', message: 'p' } });
    const redeployed = await h.ctx.environments.recordDeploy(TEST_ACTOR, { ...input('generations'), images: { web: 'r/shop:pr-2', db: 'r/pg:15' } }, { ttlGiven: false });
    assert.equal(redeployed.action, 'redeployed');
    assert.equal(redeployed.env.generation, 2);
    assert.equal(await h.store.transition(env.id, 'ready', { generation: 1, event: { type: 'ready', message: 'stale' } }), undefined);
  });

  it('when a PUT changes nothing, then it answers without waiting for the row lock; a PUT that renews the lease waits for it, and new images redeploy', async () => {
    const { env } = await h.ctx.environments.recordDeploy(TEST_ACTOR, input('repeat'), { ttlGiven: true });
    const holder = await h.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT * FROM environments WHERE id = $1 FOR UPDATE', [env.id]);
      // While another transaction holds the row: the no-op answers (a wait here would hang the test).
      const same = await h.ctx.environments.recordDeploy(TEST_ACTOR, input('repeat'), { ttlGiven: false });
      assert.equal(same.action, 'unchanged');
      assert.equal(same.env.id, env.id);
      // Refused across teams on the fast path too.
      await assert.rejects(h.ctx.environments.recordDeploy({ ...TEST_ACTOR, name: 'other', team: 'other-team' }, input('repeat'), { ttlGiven: false }), /may not change it/);
      // A write waits for the lock.
      let renewed = false;
      const renewal = h.ctx.environments.recordDeploy(TEST_ACTOR, input('repeat'), { ttlGiven: true }).then((r) => { renewed = true; return r; });
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(renewed, false, 'the lease renewal waits for the lock');
      await holder.query('COMMIT');
      assert.equal((await renewal).action, 'unchanged');
      // New images are not a no-op: the locked path redeploys.
      assert.equal((await h.ctx.environments.recordDeploy(TEST_ACTOR, { ...input('repeat'), images: { web: 'r/shop:pr-9', db: 'r/pg:15' } }, { ttlGiven: false })).action, 'redeployed');
    } finally {
      holder.release();
    }
  });

  it('when migrations run twice, then the second run applies nothing', async () => {
    const { migrate } = await import('../../core/store/migrations.js');
    assert.deepEqual(await migrate(h.pool), []);
  });
});
