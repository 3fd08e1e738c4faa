import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../core/config/config.js';
import { maxmemoryPolicyOf, maxmemoryPolicyProblem } from '../../core/queue/redis.js';

describe('Redis maxmemory-policy (the start-up check)', () => {
  it('when INFO reports a policy, then it is read from the memory section', () => {
    const info = '# Memory\r\nused_memory:1000\r\nmaxmemory:0\r\nmaxmemory_policy:allkeys-lru\r\nmem_fragmentation_ratio:1.2\r\n';
    assert.equal(maxmemoryPolicyOf(info), 'allkeys-lru');
    assert.equal(maxmemoryPolicyOf('# Server\r\nredis_version:7.0.15\r\n'), undefined);
  });
  it('when the policy is noeviction, then there is no problem', () => {
    assert.equal(maxmemoryPolicyProblem('noeviction', false), undefined);
  });
  it('when the policy evicts, then the problem names the setting, the fix and the override', () => {
    for (const policy of ['allkeys-lru', 'volatile-lru', 'allkeys-random', 'volatile-ttl', 'allkeys-lfu']) {
      const problem = maxmemoryPolicyProblem(policy, false) ?? '';
      assert.match(problem, new RegExp(`maxmemory-policy ${policy}`));
      assert.match(problem, /redis-cli config set maxmemory-policy noeviction/);
      assert.match(problem, /redis\.conf/);
      assert.match(problem, /MAYFLY_ALLOW_REDIS_EVICTION=on/);
    }
  });
  it('when the operator overrides, then an evicting policy is let through', () => {
    assert.equal(maxmemoryPolicyProblem('allkeys-lru', true), undefined);
  });
  it('when MAYFLY_ALLOW_REDIS_EVICTION is set, then it is read as on/off and a wrong value names the variable', () => {
    assert.equal(loadConfig({}).ops.allowRedisEviction, false);
    assert.equal(loadConfig({ MAYFLY_ALLOW_REDIS_EVICTION: 'on' }).ops.allowRedisEviction, true);
    assert.equal(loadConfig({ MAYFLY_ALLOW_REDIS_EVICTION: 'off' }).ops.allowRedisEviction, false);
    assert.throws(() => loadConfig({ MAYFLY_ALLOW_REDIS_EVICTION: 'perhaps' }), /MAYFLY_ALLOW_REDIS_EVICTION/);
  });
});
