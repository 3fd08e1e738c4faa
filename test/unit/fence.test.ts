import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { judgeOwnership, mayReplaceDatabase } from '../../worker/jobs/fence.js';
import type { RunFence } from '../../core/store/environments.js';

const mine: RunFence = { generation: 3, epoch: 7, statuses: ['provisioning'] };

describe('fence: does this job run still own the environment', () => {
  it('when the row is at its generation, epoch and status, then it owns it', () => {
    assert.deepEqual(judgeOwnership(mine, { status: 'provisioning', generation: 3, epoch: 7 }), { owns: true });
  });

  it('when another run of the same job claimed it since (a later epoch), then it does not, and says so', () => {
    const v = judgeOwnership(mine, { status: 'provisioning', generation: 3, epoch: 8 });
    assert.equal(v.owns, false);
    assert.match((v as { why: string }).why, /another run of this job took it over \(run 8; this is run 7\)/);
  });

  it('when the other run already made it ready, then it does not (the epoch says who; the status too)', () => {
    assert.equal(judgeOwnership(mine, { status: 'ready', generation: 3, epoch: 8 }).owns, false);
    const sameEpoch = judgeOwnership(mine, { status: 'ready', generation: 3, epoch: 7 });
    assert.equal(sameEpoch.owns, false);
    assert.match((sameEpoch as { why: string }).why, /is ready now/);
  });

  it('when it was redeployed, reset or healed (a new generation), then it does not, whatever the epoch', () => {
    const v = judgeOwnership(mine, { status: 'provisioning', generation: 4, epoch: 7 });
    assert.equal(v.owns, false);
    assert.match((v as { why: string }).why, /generation 4/);
  });

  it('when it is being destroyed or is gone, then it does not', () => {
    assert.equal(judgeOwnership(mine, { status: 'destroying', generation: 3, epoch: 7 }).owns, false);
    assert.deepEqual(judgeOwnership(mine, undefined), { owns: false, why: 'the environment is gone' });
  });

  it('when a fence allows several statuses (teardown: destroying), then any of them holds', () => {
    const teardown: RunFence = { generation: 1, epoch: 2, statuses: ['destroying'] };
    assert.equal(judgeOwnership(teardown, { status: 'destroying', generation: 1, epoch: 2 }).owns, true);
    assert.equal(judgeOwnership(teardown, { status: 'destroyed', generation: 1, epoch: 2 }).owns, false);
  });
});

describe('fence: may the database volume be replaced', () => {
  it('when the current row has a seed and was never seeded in this generation, then yes', () => {
    assert.equal(mayReplaceDatabase({ seed: 'shop-small', seededAt: null }), true);
  });

  it('when the current row says it was seeded (a tester may have data in it), then no', () => {
    assert.equal(mayReplaceDatabase({ seed: 'shop-small', seededAt: new Date() }), false);
  });

  it('when there is no seed, then no (nothing to put there)', () => {
    assert.equal(mayReplaceDatabase({ seed: null, seededAt: null }), false);
  });
});
