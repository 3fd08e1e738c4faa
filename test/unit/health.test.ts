/**
 * Mayfly's own health probing: the command a Docker healthcheck runs, and the memory of runs our
 * probe saw healthy before Docker's first check.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HealthProber, lastCheckOutput, ProbedHealth, staleUnhealthy } from '../../worker/runtime/docker/health.js';

type Health = 'starting' | 'healthy' | 'unhealthy' | undefined;
const inspected = (id: string, startedAt: string, health: Health, running = true) => ({
  Id: id,
  // Docker says unhealthy after `retries` (3) failed checks in a row (see staleUnhealthy for the other case).
  State: { Running: running, StartedAt: startedAt, ...(health ? { Health: { Status: health, FailingStreak: health === 'unhealthy' ? 3 : 0, Log: [] } } : {}) },
}) as unknown as Parameters<ProbedHealth['of']>[0];

describe('HealthProber.command', () => {
  it('when given Docker healthcheck tests, then it runs CMD as is, CMD-SHELL through /bin/sh, and nothing for NONE', () => {
    assert.deepEqual(HealthProber.command(['CMD', 'pg_isready', '-q']), ['pg_isready', '-q']);
    assert.deepEqual(HealthProber.command(['CMD-SHELL', 'curl -f localhost || exit 1']), ['/bin/sh', '-c', 'curl -f localhost || exit 1']);
    assert.equal(HealthProber.command(['NONE']), undefined);
    assert.equal(HealthProber.command([]), undefined);
    assert.equal(HealthProber.command(undefined), undefined);
  });
});

describe('HealthProber.seesHealthy', () => {
  const container = {} as ConstructorParameters<typeof HealthProber>[0]; // never called: no probe runs here
  it('when Docker says healthy, or our probe passed in a running run, then it is healthy, and only a pass of ours is remembered', () => {
    const memory = new ProbedHealth();
    const prober = new HealthProber(container, memory);
    assert.equal(prober.seesHealthy(inspected('a', 't1', 'healthy')), true, "Docker's verdict");
    assert.equal(prober.seesHealthy(inspected('a', 't1', 'starting')), false, 'no pass yet');
    prober.passed = true;
    assert.equal(prober.seesHealthy(inspected('a', 't1', 'starting', false)), false, 'a pass does not hold for a container that stopped');
    assert.equal(memory.of(inspected('a', 't1', 'starting')), 'starting', 'nothing remembered yet');
    assert.equal(prober.seesHealthy(inspected('a', 't1', 'starting')), true);
    assert.equal(memory.of(inspected('a', 't1', 'starting')), 'healthy', 'remembered for status pages');
  });

  it("when a check failed, then its last output explains why, or a plain phrase when it printed nothing", () => {
    const withLog = { Health: { Status: 'unhealthy', Log: [{ Output: 'old' }, { Output: ' connection refused\n' }] } };
    assert.equal(lastCheckOutput(withLog as never), 'connection refused');
    assert.equal(lastCheckOutput({ Health: { Status: 'unhealthy', Log: [] } } as never), 'its healthcheck failed');
  });
});

describe('ProbedHealth', () => {
  it('when our probe saw a run healthy and Docker has not checked yet, then that run reads healthy; other runs and containers read as Docker says', () => {
    const probed = new ProbedHealth();
    probed.remember('a', 't1');
    assert.equal(probed.of(inspected('a', 't1', 'starting')), 'healthy');
    assert.equal(probed.of(inspected('a', 't2', 'starting')), 'starting', 'a restart is a new run');
    assert.equal(probed.of(inspected('b', 't1', 'starting')), 'starting', 'another container');
    assert.equal(probed.of(inspected('a', 't1', 'starting', false)), 'starting', 'not running');
  });

  it('when Docker has its own verdict, then it wins and the memory of that container is dropped', () => {
    const probed = new ProbedHealth();
    probed.remember('a', 't1');
    assert.equal(probed.of(inspected('a', 't1', 'unhealthy')), 'unhealthy');
    assert.equal(probed.of(inspected('a', 't1', 'starting')), 'starting', 'forgotten once Docker spoke');
    assert.equal(probed.of(inspected('c', 't1', undefined)), 'none', 'no healthcheck');
  });

  it('when more runs are remembered than it holds, then the oldest is forgotten first', () => {
    const probed = new ProbedHealth(2);
    probed.remember('a', 't');
    probed.remember('b', 't');
    probed.remember('c', 't');
    assert.equal(probed.of(inspected('a', 't', 'starting')), 'starting');
    assert.equal(probed.of(inspected('b', 't', 'starting')), 'healthy');
    assert.equal(probed.of(inspected('c', 't', 'starting')), 'healthy');
  });
});

describe('staleUnhealthy: the unhealthy Docker sets when it pauses a container', () => {
  const state = (status: string, streak: number, exits: number[], extra: Record<string, unknown> = {}) => ({
    Running: true, Paused: false, StartedAt: 't1', ...extra,
    Health: { Status: status, FailingStreak: streak, Log: exits.map((ExitCode) => ({ ExitCode, Output: '' })) },
  }) as never;

  it('when Docker says unhealthy with no failed check, then it is stale: healthy when the last check passed, else starting until a probe of ours passed', () => {
    assert.equal(staleUnhealthy(state('unhealthy', 0, [0, 0])), true);
    assert.equal(staleUnhealthy(state('unhealthy', 0, [])), true, 'paused before Docker ever checked');
    const probed = new ProbedHealth();
    assert.equal(probed.of({ Id: 'a', State: state('unhealthy', 0, [0, 0]) } as never), 'healthy');
    assert.equal(probed.of({ Id: 'a', State: state('unhealthy', 0, []) } as never), 'starting', 'no check passed yet');
    probed.remember('a', 't1');
    assert.equal(probed.of({ Id: 'a', State: state('unhealthy', 0, []) } as never), 'healthy', 'our probe saw this run healthy');
  });

  it('when checks failed in a row (a real verdict), or the container is still paused, then Docker\'s unhealthy stands', () => {
    assert.equal(staleUnhealthy(state('unhealthy', 3, [0, 1, 1, 1])), false, 'retries failures in a row');
    assert.equal(staleUnhealthy(state('healthy', 0, [0])), false, 'not unhealthy at all');
    assert.equal(new ProbedHealth().of({ Id: 'a', State: state('unhealthy', 0, [0], { Paused: true }) } as never), 'unhealthy', 'paused: it does not answer');
    assert.equal(new ProbedHealth().of({ Id: 'a', State: state('unhealthy', 3, [1, 1, 1]) } as never), 'unhealthy');
  });
});
