import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHarness, uniqueName, type Harness } from '../helpers/harness.js';
import { samples, sampleSum } from '../helpers/prometheus.js';

type Line = Record<string, unknown> & { msg?: string };

/** Prometheus's own linter (promtool, from Debian's prometheus package) over an exposition body. */
function promtool(args: string[], stdin = ''): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => { output += String(d); });
    child.stderr.on('data', (d) => { output += String(d); });
    child.on('error', (err) => reject(new Error(`promtool did not start (${err.message}); it ships in Debian's prometheus package: apt-get install prometheus`)));
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(stdin);
  });
}
const promtoolCheck = (body: string) => promtool(['check', 'metrics'], body);
const OPERATIONS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/operations');

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

  it('when promtool checks what each process serves on /metrics, then it finds no problem (no gauge named *_total, every name and unit as Prometheus wants)', async () => {
    const broken = await promtoolCheck('# HELP x_total a gauge by a counter\'s name\n# TYPE x_total gauge\nx_total 1\n');
    assert.notEqual(broken.code, 0, 'promtool really checks (a gauge named *_total is refused)');
    assert.match(broken.output, /x_total/);
    for (const [target, body] of [['web', webMetrics], ['worker', workerMetrics]] as const) {
      assert.ok(body.includes('# TYPE mayfly_'), `${target} served metrics`);
      const checked = await promtoolCheck(body);
      assert.deepEqual({ code: checked.code, output: checked.output.trim() }, { code: 0, output: '' }, `promtool check metrics on the ${target}'s /metrics`);
    }
  });

  it('when the sample scrape config and the Grafana dashboard are checked, then promtool accepts both and every series the dashboard queries is served', async () => {
    const config = await promtool(['check', 'config', path.join(OPERATIONS, 'prometheus.yml')]);
    assert.equal(config.code, 0, config.output);
    const dashboard = JSON.parse(await readFile(path.join(OPERATIONS, 'grafana-dashboard.json'), 'utf8'));
    const exprs: string[] = dashboard.panels.flatMap((p: { targets?: { expr: string }[] }) => (p.targets ?? []).map((t) => t.expr));
    assert.ok(exprs.length >= 10, `the dashboard's queries: ${exprs.length}`);
    // Each query as a recording rule, Grafana's variables replaced: promtool parses the PromQL.
    const dir = await mkdtemp(path.join(tmpdir(), 'mayfly-dashboard-'));
    try {
      const rules = { groups: [{ name: 'dashboard', rules: exprs.map((expr, i) => ({ record: `dashboard:query_${i}`, expr: expr.replaceAll('$__rate_interval', '5m').replaceAll('$template', '.*') })) }] };
      await writeFile(path.join(dir, 'rules.yml'), JSON.stringify(rules));
      const checked = await promtool(['check', 'rules', path.join(dir, 'rules.yml')]);
      assert.equal(checked.code, 0, checked.output);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const served = new Set([...`${webMetrics}\n${workerMetrics}`.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
    const queried = new Set(exprs.flatMap((e) => [...e.matchAll(/\b(mayfly_\w+)/g)].map((m) => m[1]!.replace(/_(bucket|count|sum)$/, ''))));
    assert.deepEqual([...queried].filter((name) => !served.has(name)), [], 'queried by the dashboard but served by neither process');
  });

  it('when Prometheus scrapes the web process, then it sees the memory budget and what holds it, and failures by code', () => {
    assert.equal(samples(webMetrics, 'mayfly_memory_budget_bytes').length, 1);
    assert.deepEqual(samples(webMetrics, 'mayfly_memory_reserved_bytes'), [0], 'the one environment is destroyed: nothing reserved');
    assert.deepEqual(samples(webMetrics, 'mayfly_admission_environments', { state: 'holding' }), [0]);
    assert.match(webMetrics, /# TYPE mayfly_failed_environments gauge/);
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
