import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canTransition, sourcesOf, STATUSES } from '../../core/domain/environment.js';
import { ConfigError, loadConfig, parseApiTokens, parseMemory, parseTeams } from '../../core/config/config.js';
import { principalFor } from '../../core/domain/principal.js';

describe('the lifecycle state machine', () => {
  it('follows queued -> provisioning -> ready -> destroying -> destroyed', () => {
    assert.ok(canTransition('queued', 'provisioning'));
    assert.ok(canTransition('provisioning', 'ready'));
    assert.ok(canTransition('ready', 'destroying'));
    assert.ok(canTransition('destroying', 'destroyed'));
  });
  it('reaches failed from provisioning, destroying, ready (healing gave up) and sleeping (a wake gave up) only', () => {
    assert.deepEqual(sourcesOf('failed').sort(), ['destroying', 'provisioning', 'ready', 'sleeping']);
  });
  it('never leaves destroyed, and never skips provisioning on the way to ready', () => {
    for (const s of STATUSES) assert.ok(!canTransition('destroyed', s));
    assert.deepEqual(sourcesOf('ready').sort(), ['provisioning', 'sleeping']);
  });
  it('lets a ready or failed environment be redeployed, but not a destroying one', () => {
    assert.ok(canTransition('ready', 'queued'));
    assert.ok(canTransition('failed', 'queued'));
    assert.ok(!canTransition('destroying', 'queued'));
  });
});

describe('configuration', () => {
  it('has working defaults', () => {
    const c = loadConfig({});
    assert.equal(c.port, 8080);
    assert.equal(c.registry, '127.0.0.1:5000');
    assert.equal(c.reconcileIntervalMs, 5000);
    assert.ok(Object.isFrozen(c));
  });
  it('names the variable that is wrong', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ PORT: 'eighty' }, /PORT/],
      [{ DATABASE_URL: 'mysql://x' }, /DATABASE_URL/],
      [{ REDIS_URL: 'not a url' }, /REDIS_URL/],
      [{ MAYFLY_RECONCILE_INTERVAL: 'often' }, /MAYFLY_RECONCILE_INTERVAL/],
      [{ MAYFLY_DEFAULT_MEMORY: 'much' }, /MAYFLY_DEFAULT_MEMORY/],
      [{ MAYFLY_API_TOKENS: 'ci:short' }, /MAYFLY_API_TOKENS/],
      [{ MAYFLY_API_TOKENS: 'ci:longenough1,ci:longenough2' }, /twice/],
      [{ MAYFLY_INSTANCE: 'Bad Name' }, /MAYFLY_INSTANCE/],
    ];
    for (const [env, re] of cases) assert.throws(() => loadConfig(env), (e: unknown) => e instanceof ConfigError && re.test(e.message), JSON.stringify(env));
  });
  it('does not print a database password in its error', () => {
    assert.throws(() => loadConfig({ DATABASE_URL: 'postgres//user:hunter2@host' }), (e: unknown) => !(e as Error).message.includes('hunter2'));
  });
  it('reads tokens and sizes', () => {
    assert.deepEqual(parseApiTokens('ci:0123456789, qa:abcdefghij'), [{ name: 'ci', secret: '0123456789' }, { name: 'qa', secret: 'abcdefghij' }]);
    assert.equal(parseMemory('256m'), 256 * 1024 * 1024);
    assert.equal(parseMemory('1g'), 1024 ** 3);
    assert.equal(parseMemory('-1m'), undefined);
  });
});

describe('teams and admins (MAYFLY_TEAMS, MAYFLY_ADMINS)', () => {
  it('when names are listed under teams then each maps to its team, others to default', async () => {
    const dir = parseTeams('qa=alice,ci; platform=carol@example.com', 'carol@example.com');
    assert.deepEqual(principalFor(dir, 'alice', 'user'), { name: 'alice', kind: 'user', team: 'qa', admin: false });
    assert.deepEqual(principalFor(dir, 'carol@example.com', 'user'), { name: 'carol@example.com', kind: 'user', team: 'platform', admin: true });
    assert.equal(principalFor(dir, 'stranger', 'token').team, 'default');
  });
  it('when a name is in two teams or a team name is bad then the error names the variable', async () => {
    assert.throws(() => parseTeams('qa=alice;dev=alice', ''), /MAYFLY_TEAMS.*"alice" in two teams/);
    assert.throws(() => parseTeams('Q A=alice', ''), /MAYFLY_TEAMS/);
    assert.throws(() => parseTeams('', 'bad name'), /MAYFLY_ADMINS/);
  });
});
