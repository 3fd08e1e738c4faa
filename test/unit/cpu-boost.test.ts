import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../core/config/config.js';
import type { ServiceSpec } from '../../core/stack/model.js';
import { CpuBoost, startNanoCpus, startOptionsOf } from '../../worker/runtime/docker/cpu-boost.js';

const svc = (nanoCpus: number): ServiceSpec => ({
  name: 'web', image: 'r/shop:pr-1', environment: {}, ports: [], volumes: [], tmpfs: [], dependsOn: [],
  limits: { memoryBytes: 128 * 1024 ** 2, nanoCpus, pids: 64 }, labels: {}, restart: 'no',
});
/** A stand-in for the engine's /info: only its CPU count matters here. */
const engine = (cpus: number) => {
  let asked = 0;
  return { docker: { info: async () => { asked++; return { NCPU: cpus }; } } as never, asked: () => asked };
};

describe('the start-time CPU boost (MAYFLY_START_CPU_BOOST)', () => {
  it('when the engine has more CPUs than MAYFLY_MAX_CPUS, then a boosted start gets the maximum, not the engine\'s whole CPU', async () => {
    const { docker, asked } = engine(64);
    const boost = new CpuBoost(docker, startOptionsOf(loadConfig({ MAYFLY_MAX_CPUS: '4' })));
    assert.equal(await boost.for(svc(0.5e9)), 4e9);
    assert.equal(await boost.for(svc(1e9)), 4e9);
    assert.equal(asked(), 1, 'the engine is asked its CPU count once');
  });
  it('when a service\'s limit is the maximum already, then it starts at its limit (no boost)', async () => {
    const boost = new CpuBoost(engine(64).docker, startOptionsOf(loadConfig({ MAYFLY_MAX_CPUS: '2', MAYFLY_DEFAULT_CPUS: '1' })));
    assert.equal(await boost.for(svc(2e9)), undefined);
  });
  it('when the engine has fewer CPUs than the maximum, then a boosted start gets the engine\'s CPUs', async () => {
    const boost = new CpuBoost(engine(2).docker, startOptionsOf(loadConfig({ MAYFLY_MAX_CPUS: '8' })));
    assert.equal(await boost.for(svc(0.5e9)), 2e9);
  });
  it('when the boost is off, then every service starts at its limit', async () => {
    const { docker, asked } = engine(64);
    const boost = new CpuBoost(docker, startOptionsOf(loadConfig({ MAYFLY_START_CPU_BOOST: 'false' })));
    assert.equal(await boost.for(svc(0.5e9)), undefined);
    assert.equal(asked(), 0);
  });
  it('never boosts below or at a service\'s own limit, nor a service without a CPU limit', () => {
    assert.equal(startNanoCpus(4e9, 64e9, 4e9), undefined);
    assert.equal(startNanoCpus(0.5e9, 1e9, 4e9), 1e9);
    assert.equal(startNanoCpus(undefined, 64e9, 4e9), undefined);
    assert.equal(startNanoCpus(0.5e9, 64e9, undefined), 64e9);
  });
});
