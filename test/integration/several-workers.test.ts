import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkerEndpoints } from '../../core/platform/internal-api.js';
import { workerClientOf } from '../../api/worker-client.js';
import { startHarness, uniqueName, type Harness } from '../helpers/harness.js';
import { FAULT_ENV, settled } from '../helpers/faults.js';
import { WorkerProcess } from '../helpers/worker-process.js';

/**
 * Several workers on one host, each started as the Procfile starts one: with the default ports
 * (the harness gives spawned workers port 0; here the variables are unset again). Before, the
 * second exited with EADDRINUSE on the metrics port.
 */
describe('several workers on one host with the default ports', { timeout: 600_000 }, () => {
  let h: Harness;
  const workers: WorkerProcess[] = [];
  const ids: string[] = [];
  before(async () => { h = await startHarness({ worker: false, env: FAULT_ENV }); });
  after(async () => {
    for (const id of ids) await h.api('DELETE', `/api/v1/environments/${id}?wait=120`).catch(() => undefined);
    for (const w of workers) await w.stop();
    await h?.close();
  });

  /** As the Procfile starts a worker: no port variables (empty is unset). One job at a time, so four spread over two. */
  const PROCFILE = { MAYFLY_WORKER_METRICS_PORT: '', MAYFLY_WORKER_INTERNAL_PORT: '', MAYFLY_WORKER_CONCURRENCY: '1' };

  function urlOf(w: WorkerProcess, msg: string): string {
    const line = w.logLines(msg)[0];
    assert.ok(line && typeof line.url === 'string', `no "${msg}" line with a url:\n${w.output()}`);
    return line.url as string;
  }

  it('when two workers start with the default ports, then both start, both take work, both serve /metrics, and the web reaches either', async () => {
    workers.push(await WorkerProcess.start(h, PROCFILE));
    workers.push(await WorkerProcess.start(h, PROCFILE));
    const [a, b] = workers as [WorkerProcess, WorkerProcess];

    // Each listens on a port of its own, logged with its URL; the default or one after it.
    const metrics = [urlOf(a, 'worker metrics listening'), urlOf(b, 'worker metrics listening')];
    const internal = [urlOf(a, 'internal endpoint listening (service state, logs)'), urlOf(b, 'internal endpoint listening (service state, logs)')];
    assert.notEqual(metrics[0], metrics[1]);
    assert.notEqual(internal[0], internal[1]);
    for (const url of internal) {
      const port = Number(new URL(url).port);
      assert.ok(port >= 8091 && port <= 8101, `${url}: the default 8091 or one of the next ten`);
    }
    for (const url of metrics) {
      const port = Number(new URL(url).port);
      assert.ok(port >= 9465 && port <= 9475, `${url}: the default 9465 or one of the next ten`);
      const res = await fetch(url);
      assert.equal(res.status, 200, url);
      assert.match(await res.text(), /mayfly_provision_seconds/, url);
    }

    // Both registered where the web looks for them.
    const endpoints = new WorkerEndpoints(() => h.queues.provision.getBackend().client, h.config.queuePrefix);
    assert.deepEqual((await endpoints.live()).sort(), [...internal].sort());

    // Four environments: each worker takes some of them.
    for (let i = 0; i < 4; i++) {
      const res = await h.api('PUT', `/api/v1/environments/${uniqueName('several')}`, { template: 'tiny', ttl: '1h' });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      ids.push(res.body.id as string);
    }
    for (const id of ids) {
      const env = await settled(h, id);
      assert.equal(env.status, 'ready', JSON.stringify(env.failure));
    }
    const readyBy = (w: WorkerProcess) => w.logLines('environment ready').map((l) => l.envId as string).filter((id) => ids.includes(id));
    const byA = readyBy(a);
    const byB = readyBy(b);
    assert.ok(byA.length >= 1, `worker A provisioned none of ${ids.join(', ')}:\n${a.output()}`);
    assert.ok(byB.length >= 1, `worker B provisioned none of ${ids.join(', ')}:\n${b.output()}`);
    assert.deepEqual([...byA, ...byB].sort(), [...ids].sort(), 'each environment was provisioned once');

    // The web's client (no MAYFLY_WORKER_INTERNAL_URL) finds a worker, and another when one dies
    // without removing its registration.
    const client = workerClientOf({ config: h.config, queues: h.queues });
    assert.equal((await client.services(ids[0]!)).length, 1);
    await a.kill();
    assert.equal((await client.services(ids[1]!)).length, 1, 'answered by the worker still running');
  });
});
