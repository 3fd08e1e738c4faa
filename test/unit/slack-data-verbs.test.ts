import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSlackCommand, slackUsage } from '../../core/doors/slack-command.js';

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
