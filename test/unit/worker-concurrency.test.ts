import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { ConfigError, defaultWorkerConcurrency, loadConfig } from '../../core/config/config.js';

const GiB = 2 ** 30;

describe('the default worker concurrency (admission\'s provisioning slots per worker)', () => {
  it('when the machine has plenty of memory, then it is two per core', () => {
    assert.equal(defaultWorkerConcurrency(2, 24 * GiB), 4);
    assert.equal(defaultWorkerConcurrency(8, 64 * GiB), 16);
    assert.equal(defaultWorkerConcurrency(1, 4 * GiB), 2);
  });
  it('when memory is short, then one per GiB, and never below 1', () => {
    assert.equal(defaultWorkerConcurrency(16, 3 * GiB), 3);
    assert.equal(defaultWorkerConcurrency(4, 512 * 2 ** 20), 1);
  });
  it('when the machine is huge, then at most 64', () => {
    assert.equal(defaultWorkerConcurrency(128, 1024 * GiB), 64);
  });
  it('when MAYFLY_WORKER_CONCURRENCY is unset or auto, then the config takes this machine\'s value', () => {
    const expected = defaultWorkerConcurrency(os.availableParallelism(), os.totalmem());
    assert.equal(loadConfig({}).workerConcurrency, expected);
    assert.equal(loadConfig({ MAYFLY_WORKER_CONCURRENCY: 'auto' }).workerConcurrency, expected);
  });
  it('when it is set, then the number wins, and a bad one is refused naming the variable', () => {
    assert.equal(loadConfig({ MAYFLY_WORKER_CONCURRENCY: '7' }).workerConcurrency, 7);
    assert.throws(() => loadConfig({ MAYFLY_WORKER_CONCURRENCY: 'lots' }), (err: Error) => err instanceof ConfigError && /MAYFLY_WORKER_CONCURRENCY/.test(err.message));
    assert.throws(() => loadConfig({ MAYFLY_WORKER_CONCURRENCY: '0' }), /MAYFLY_WORKER_CONCURRENCY/);
  });
});
