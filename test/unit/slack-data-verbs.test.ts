import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSlackCommand, slackUsage } from '../../core/doors/slack-command.js';
import { describeCheckpoints } from '../../core/doors/text.js';

describe('Slack verbs for checkpoints, rewind and forks', () => {
  it('when checkpoint, rewind or fork is given its words, then it parses them', () => {
    assert.deepEqual(parseSlackCommand('checkpoint shop-1'), { kind: 'checkpoint', name: 'shop-1' });
    assert.deepEqual(parseSlackCommand('rewind shop-1 cp-1a2b3c4d'), { kind: 'rewind', name: 'shop-1', checkpoint: 'cp-1a2b3c4d' });
    assert.deepEqual(parseSlackCommand('FORK shop-1 alice'), { kind: 'fork', name: 'shop-1', for: 'alice' });
  });
  it('when a word is missing or extra, then usage says what is needed', () => {
    assert.match((parseSlackCommand('checkpoint') as { problem: string }).problem, /exactly one environment name/);
    assert.match((parseSlackCommand('rewind shop-1') as { problem: string }).problem, /checkpoint id/);
    assert.match((parseSlackCommand('fork shop-1 a b') as { problem: string }).problem, /who the fork is for/);
    assert.match(slackUsage(), /fork <name> <for>/);
  });
});

describe('Slack `checkpoints`: the list the CLI has too', () => {
  it('when checkpoints is given one name, then it parses; otherwise usage names what is needed', () => {
    assert.deepEqual(parseSlackCommand('checkpoints shop-1'), { kind: 'checkpoints', name: 'shop-1' });
    assert.deepEqual(parseSlackCommand('Checkpoints  shop-1 '), { kind: 'checkpoints', name: 'shop-1' });
    for (const text of ['checkpoints', 'checkpoints shop-1 cp-1a2b3c4d']) {
      assert.match((parseSlackCommand(text) as { problem: string }).problem, /`checkpoints <name>` takes exactly one environment name/, text);
    }
    assert.match(slackUsage('/qa'), /`\/qa checkpoints <name>`/);
  });
  it('when an environment has checkpoints, then each shows its id, status, reason, who, size and pause, and how to rewind', () => {
    const text = describeCheckpoints('shop-1', [
      { id: 'cp-22222222', reason: 'before-rewind', status: 'ready', createdBy: 'slack:U1', createdAt: new Date('2026-12-02T08:10:00Z'), sizeBytes: 48 * 1024 * 1024, pauseMs: 120, error: null },
      { id: 'cp-11111111', reason: 'manual', status: 'failed', createdBy: 'qa', createdAt: new Date('2026-12-02T08:00:00Z'), sizeBytes: null, pauseMs: null, error: 'volume gone' },
      { id: 'cp-00000000', reason: 'manual', status: 'pending', createdBy: 'qa', createdAt: new Date('2026-12-02T07:59:00Z'), sizeBytes: null, pauseMs: null, error: null },
    ], '/mayfly');
    const lines = text.split('\n');
    assert.match(lines[0]!, /^Checkpoints of \*shop-1\*, newest first:$/);
    assert.match(lines[1]!, /^• `cp-22222222` — ready · before-rewind by slack:U1 at 2026-12-02T08:10:00\.000Z · 48(\.0)? MiB, paused 120 ms$/);
    assert.match(lines[2]!, /^• `cp-11111111` — failed \(volume gone\) · manual by qa at 2026-12-02T08:00:00\.000Z$/);
    assert.match(lines[3]!, /^• `cp-00000000` — pending · manual by qa/);
    assert.equal(lines[4], 'Bring a ready one back: `/mayfly rewind shop-1 <checkpoint>`');
  });
  it('when it has none, then it says how to take one', () => {
    assert.equal(describeCheckpoints('shop-1', [], '/mayfly'), '*shop-1* has no checkpoints. Take one: `/mayfly checkpoint shop-1`');
  });
});

describe('Slack verb for bug capsules', () => {
  it('when capsule is given a name and words, then the words are the note', () => {
    assert.deepEqual(parseSlackCommand('capsule shop-1'), { kind: 'capsule', name: 'shop-1' });
    assert.deepEqual(parseSlackCommand('capsule shop-1 pay fails after coupon'), { kind: 'capsule', name: 'shop-1', note: 'pay fails after coupon' });
    assert.match((parseSlackCommand('capsule') as { problem: string }).problem, /needs an environment name/);
  });
});
