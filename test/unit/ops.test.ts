import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../core/config/config.js';
import { isLoopback, metricsAccess } from '../../core/platform/metrics.js';
import { WorkerMetrics } from '../../worker/metrics.js';
import { WebMetrics } from '../../api/metrics.js';
import { unsupportedServerNode } from '../../core/platform/node-version.js';
import { samples } from '../helpers/prometheus.js';

describe('who may read /metrics', () => {
  it('when no metrics token is configured, then loopback clients may and others may not', () => {
    for (const a of ['127.0.0.1', '::1', '::ffff:127.0.0.1', '127.3.2.1']) assert.equal(metricsAccess(undefined, undefined, a), 'ok', a);
    for (const a of ['10.0.0.5', '::ffff:192.168.1.2', '2001:db8::1', undefined]) assert.equal(metricsAccess(undefined, undefined, a), 'forbidden', String(a));
    assert.equal(isLoopback('128.0.0.1'), false);
  });

  it('when a metrics token is configured, then only that bearer token may, from anywhere, loopback included', () => {
    const token = 'metrics-token-0123456789';
    assert.equal(metricsAccess(token, `Bearer ${token}`, '10.0.0.5'), 'ok');
    assert.equal(metricsAccess(token, undefined, '127.0.0.1'), 'unauthorized');
    assert.equal(metricsAccess(token, 'Bearer wrong-token-0123456789', '127.0.0.1'), 'unauthorized');
  });

  it('when MAYFLY_METRICS_TOKEN is short or LOG_FORMAT unknown, then the config names the variable', () => {
    assert.throws(() => loadConfig({ MAYFLY_METRICS_TOKEN: 'short' }), /MAYFLY_METRICS_TOKEN/);
    assert.throws(() => loadConfig({ LOG_FORMAT: 'xml' }), /LOG_FORMAT/);
    assert.throws(() => loadConfig({ MAYFLY_WORKER_METRICS_PORT: '70000' }), /MAYFLY_WORKER_METRICS_PORT/);
    assert.equal(loadConfig({ NODE_ENV: 'development' }).ops.logFormat, 'pretty');
    assert.equal(loadConfig({}).ops.logFormat, 'json');
    assert.equal(loadConfig({}).ops.workerMetricsPort, 9465);
  });
});

describe('reconciler actions', () => {
  it('when a report has a new numeric field, then it is counted as a kind of its own without any other change', async () => {
    const m = new WorkerMetrics();
    m.countReconcile({ expired: 2, requeued: 0, restartedContainers: 3, note: 'ignored' });
    m.countReconcile({ expired: 1 });
    const text = await m.registry.metrics();
    assert.deepEqual(samples(text, 'mayfly_reconciler_actions_total', { kind: 'expired' }), [3]);
    assert.deepEqual(samples(text, 'mayfly_reconciler_actions_total', { kind: 'restartedContainers' }), [3]);
    assert.deepEqual(samples(text, 'mayfly_reconciler_actions_total', { kind: 'requeued' }), [0]);
    assert.deepEqual(samples(text, 'mayfly_reconciler_actions_total', { kind: 'note' }), []);
  });
});

describe('the web process\'s scrape-time gauges', () => {
  const failed = (template: string, code: string | undefined) => ({ template, status: 'failed', failure: code ? { code, message: 'x' } : null });
  const deps = {
    catalog: { list: () => [] },
    store: {
      countByStatus: async () => [],
      list: async (filter: { statuses?: string[] }) => {
        assert.deepEqual(filter.statuses, ['failed']);
        return [failed('shop', 'IMAGE_NOT_FOUND'), failed('shop', 'IMAGE_NOT_FOUND'), failed('shop', 'HEALTH_TIMEOUT'), failed('blog', undefined)];
      },
    },
    queues: { provision: { name: 'provision', getJobCounts: async () => ({}) }, lifecycle: { name: 'lifecycle', getJobCounts: async () => ({}) } },
    admission: {
      usage: async () => ({ holding: 3, waiting: 2, reservedMemoryBytes: 3 * 512 * 1024 ** 2, memoryBudgetBytes: 4 * 1024 ** 3 }),
      poolStats: async () => [{ template: 'shop', size: 2, starting: 1, ready: 1, draining: 0, hits: 5, misses: 2 }],
    },
  } as unknown as ConstructorParameters<typeof WebMetrics>[0];

  it('when environments failed, then they are counted by template and failure code; the memory budget and what holds it are shown', async () => {
    const text = await new WebMetrics(deps).registry.metrics();
    assert.deepEqual(samples(text, 'mayfly_failed_environments', { template: 'shop', code: 'IMAGE_NOT_FOUND' }), [2]);
    assert.deepEqual(samples(text, 'mayfly_failed_environments', { template: 'shop', code: 'HEALTH_TIMEOUT' }), [1]);
    assert.deepEqual(samples(text, 'mayfly_failed_environments', { template: 'blog', code: 'UNKNOWN' }), [1]);
    assert.deepEqual(samples(text, 'mayfly_memory_budget_bytes'), [4 * 1024 ** 3]);
    assert.deepEqual(samples(text, 'mayfly_memory_reserved_bytes'), [3 * 512 * 1024 ** 2]);
    assert.deepEqual(samples(text, 'mayfly_admission_environments', { state: 'holding' }), [3]);
    assert.deepEqual(samples(text, 'mayfly_admission_environments', { state: 'waiting' }), [2]);
    assert.doesNotMatch(text, /^# TYPE \S+_total gauge$/m, 'no gauge is named like a counter');
  });

  it('when a template keeps a warm pool, then its size, its standbys by status and its hits and misses are shown', async () => {
    const text = await new WebMetrics(deps).registry.metrics();
    assert.deepEqual(samples(text, 'mayfly_pool_size', { template: 'shop' }), [2]);
    assert.deepEqual(samples(text, 'mayfly_pool_standbys', { template: 'shop', status: 'ready' }), [1]);
    assert.deepEqual(samples(text, 'mayfly_pool_standbys', { template: 'shop', status: 'starting' }), [1]);
    assert.deepEqual(samples(text, 'mayfly_pool_claims', { template: 'shop', outcome: 'hit' }), [5]);
    assert.deepEqual(samples(text, 'mayfly_pool_claims', { template: 'shop', outcome: 'miss' }), [2]);
  });
});

describe('the Node.js that runs Mayfly', () => {
  it('when the web or worker runs on Node 22 or 24, then nothing is said; on 20 or an odd release, a warning names the supported lines and scripts/node.sh', () => {
    for (const v of ['22.12.0', '24.22.3']) assert.equal(unsupportedServerNode(v), undefined, v);
    for (const v of ['20.20.2', '23.1.0', '18.0.0']) assert.match(unsupportedServerNode(v) ?? '', /22 or 24.*scripts\/node\.sh/, v);
  });
});
