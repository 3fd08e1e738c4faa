import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, uniqueName, type Harness } from '../helpers/harness.js';
import { samples, sampleSum } from '../helpers/prometheus.js';

type Line = Record<string, unknown> & { msg?: string };

describe('metrics and logs of a create and a destroy', () => {
  let h: Harness;
  const raw: string[] = [];
  let id = '';
  let name = '';
  let webMetrics = '';
  let workerMetrics = '';

  before(async () => {
    h = await startHarness({ env: { LOG_LEVEL: 'debug' }, logDestination: { write: (s: string) => { raw.push(s); } } });
    name = uniqueName('shop-ops');
    const created = await h.api('PUT', `/api/v1/environments/${name}?wait=180`, { template: 'shop', tag: 'pr-1', ttl: '1h' });
    assert.equal(created.body.status, 'ready', JSON.stringify(created.body));
    id = created.body.id;
    const deleted = await h.api('DELETE', `/api/v1/environments/${name}?wait=90`);
    assert.equal(deleted.body.status, 'destroyed', JSON.stringify(deleted.body));
    webMetrics = await (await fetch(`${h.baseUrl}/metrics`)).text();
    workerMetrics = await (await fetch(h.workerMetricsUrl)).text();
  });
  after(async () => { await h.close(); });

  it('when Prometheus scrapes the web process, then it sees environments by status and template, queue depths and request latency by route pattern', () => {
    assert.deepEqual(samples(webMetrics, 'mayfly_environments', { status: 'destroyed', template: 'shop' }), [1]);
    assert.deepEqual(samples(webMetrics, 'mayfly_environments', { status: 'ready', template: 'shop' }), [0]);
    for (const queue of ['provision', 'lifecycle']) {
      for (const state of ['waiting', 'active', 'delayed', 'failed']) {
        assert.equal(samples(webMetrics, 'mayfly_queue_jobs', { queue, state }).length, 1, `${queue}/${state} in\n${webMetrics}`);
      }
    }
    assert.equal(sampleSum(webMetrics, 'mayfly_http_request_duration_seconds_count', { method: 'PUT', route: '/api/v1/environments/:name', status: '202' }), 1);
    assert.equal(sampleSum(webMetrics, 'mayfly_http_request_duration_seconds_count', { method: 'DELETE', route: '/api/v1/environments/:name', status: '202' }), 1);
    assert.ok(!webMetrics.includes(name), 'raw paths (the environment name) never become labels');
  });

  it('when Prometheus scrapes the worker, then it sees every provisioning phase, the teardown time and the reconciler actions by kind', () => {
    for (const phase of ['queue_wait', 'pull', 'start', 'health']) {
      assert.equal(sampleSum(workerMetrics, 'mayfly_provision_phase_seconds_count', { phase, template: 'shop' }), 1, `phase ${phase}`);
    }
    const dataPhases = sampleSum(workerMetrics, 'mayfly_provision_phase_seconds_count', { phase: 'clone' }) + sampleSum(workerMetrics, 'mayfly_provision_phase_seconds_count', { phase: 'seed' });
    assert.equal(dataPhases, 1, 'the database got its data by a clone or a restore');
    assert.equal(sampleSum(workerMetrics, 'mayfly_provision_seconds_count', { template: 'shop', outcome: 'ready' }), 1);
    assert.equal(sampleSum(workerMetrics, 'mayfly_teardown_seconds_count', { reason: 'destroyed' }), 1);
    for (const kind of ['expired', 'requeued', 'teardownsRequeued', 'orphansRemoved', 'goldensRemoved']) {
      assert.equal(samples(workerMetrics, 'mayfly_reconciler_actions_total', { kind }).length, 1, `reconciler kind ${kind}`);
    }
  });

  it('when the worker and the API log about the environment, then every JSON line that names it carries its envId, and request lines carry a requestId', () => {
    const lines: Line[] = raw.flatMap((chunk) => chunk.split('\n').filter(Boolean)).map((l) => JSON.parse(l) as Line);
    const about = lines.filter((l) => JSON.stringify(l).includes(id) || JSON.stringify(l).includes(name));
    assert.ok(about.length >= 5, `lines about the environment: ${about.length}`);
    const missing = about.filter((l) => l.envId !== id);
    assert.deepEqual(missing, [], 'lines naming the environment without its envId');
    const messages = lines.filter((l) => l.envId === id).map((l) => l.msg);
    for (const msg of ['environment ready', 'environment destroyed']) assert.ok(messages.includes(msg), `"${msg}" in ${JSON.stringify(messages)}`);
    const requests = lines.filter((l) => l.msg === 'request' && l.envId === id);
    assert.deepEqual(requests.map((l) => `${l.method} ${l.route} ${l.status}`).sort(),
      [`DELETE /api/v1/environments/:name 202`, `PUT /api/v1/environments/:name 202`]);
    for (const l of requests) assert.match(String(l.requestId), /^[\w.-]{1,64}$/);
  });
});
