import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, labeledObjects, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';
import { WorkerProcess } from '../helpers/worker-process.js';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-engines.js';
import { FAULT_ENV, nextDockerEvent, noLeftovers, settled } from '../helpers/faults.js';

/** A private PostgreSQL cluster (never the shared one), restarted while a job runs. */
describe('faults: PostgreSQL', { timeout: 600_000 }, () => {
  let h: Harness;
  let pg: PrivatePostgres;
  let w: WorkerProcess;
  before(async () => {
    pg = await startPrivatePostgres();
    h = await startHarness({ adminUrl: pg.url, worker: false, env: FAULT_ENV });
    // The API's pool sees its idle connections cut by the restart; it reconnects on next use.
    h.pool.on('error', () => undefined);
    w = await WorkerProcess.start(h);
  });
  after(async () => {
    await w?.stop();
    await h?.close();
    await pg?.stop();
  });

  it('when PostgreSQL restarts while an environment is being started, then the job retries, the environment ends ready and nothing is left untracked', { timeout: 420_000 }, async () => {
    const name = uniqueName('pg-restart');
    const res = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'tiny' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const id = res.body.id as string;
    const start = await nextDockerEvent(h.docker, { type: ['container'], event: ['start'], label: [`mayfly.env=${id}`] });
    await start.event;
    await pg.restart();
    assert.ok(w.running(), `the worker survives a PostgreSQL restart:\n${w.output()}`);
    const env = await settled(h, id, 300_000);
    assert.equal(env.status, 'ready', `${JSON.stringify(env.failure)}\n${w.output()}`);
    const events = await h.store.events(id);
    assert.ok(events.some((e) => e.type === 'ready'));
    const objects = await labeledObjects(h.docker, id);
    assert.equal(objects.containers, 1);
    const del = await h.api('DELETE', `/api/v1/environments/${name}?wait=120`);
    assert.equal(del.body.status, 'destroyed', JSON.stringify(del.body));
    await noLeftovers(h, h.docker, [env.project]);
  });

  it('when PostgreSQL is down for a while during a teardown, then the teardown is retried and finishes', { timeout: 300_000 }, async () => {
    const name = uniqueName('pg-teardown');
    const res = await h.api('PUT', `/api/v1/environments/${name}?wait=240`, { template: 'tiny' });
    assert.equal(res.body.status, 'ready', JSON.stringify(res.body));
    const removing = await nextDockerEvent(h.docker, { type: ['container'], event: ['destroy'], label: [`mayfly.env=${res.body.id}`] });
    assert.equal((await h.api('DELETE', `/api/v1/environments/${name}`)).status, 202);
    await removing.event;
    await pg.kill();
    await new Promise((r) => setTimeout(r, 3000));
    await pg.restart();
    const env = await waitUntil('the teardown to finish', 180_000, async () => {
      const now = await h.store.getById(res.body.id).catch(() => undefined);
      return now?.status === 'destroyed' ? now : undefined;
    }).catch(async (err: Error) => {
      // Why, for whoever reads the failure: where it stands and what the worker said.
      const now = await h.store.getById(res.body.id).catch(() => undefined);
      const events = await h.store.events(res.body.id).catch(() => []);
      throw new Error(`${err.message}; status ${now?.status}; worker running: ${w.running()}\n${events.map((e) => `${e.type}: ${e.message}`).join('\n')}\n${w.output()}`);
    });
    assert.deepEqual(await labeledObjects(h.docker, env.id), { containers: 0, networks: 0, volumes: 0 });
    await noLeftovers(h, h.docker, [env.project]);
  });
});
