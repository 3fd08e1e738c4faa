import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, labeledObjects, uniqueName, type Harness } from '../helpers/harness.js';

describe('concurrent requests for one name', () => {
  let h: Harness;
  before(async () => { h = await startHarness(); });
  after(async () => { await h.close(); });

  it('when 12 PUTs of one name arrive at once, then exactly one environment exists and it becomes ready once', async () => {
    const name = uniqueName('shop-race');
    const results = await Promise.all(
      Array.from({ length: 12 }, () => h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop', tag: 'pr-1' })),
    );
    for (const r of results) assert.ok([200, 202].includes(r.status), JSON.stringify(r.body));
    const ids = new Set(results.map((r) => r.body.id));
    assert.equal(ids.size, 1, `one environment id, got ${[...ids].join(', ')}`);
    assert.equal(results.filter((r) => r.body.action === 'created').length, 1, 'exactly one PUT created it');
    const { rows } = await h.pool.query('SELECT count(*)::int AS n FROM environments WHERE name = $1', [name]);
    assert.equal(rows[0].n, 1);

    const ready = await h.api('GET', `/api/v1/environments/${name}?wait=120`);
    assert.equal(ready.body.status, 'ready', JSON.stringify(ready.body.failure));
    assert.equal(ready.body.generation, 1);
    const events = await h.store.events(ready.body.id);
    assert.equal(events.filter((e) => e.type === 'ready').length, 1, 'provisioned once');
    const objects = await labeledObjects(h.docker, ready.body.id);
    assert.equal(objects.containers, 2, 'one db and one web container');

    await h.api('DELETE', `/api/v1/environments/${name}?wait=60`);
  });

  it('when a PUT arrives for a name that is being torn down, then it waits for the teardown and creates a new environment', async () => {
    const name = uniqueName('shop-again');
    const first = await h.api('PUT', `/api/v1/environments/${name}?wait=120`, { template: 'shop' });
    assert.equal(first.body.status, 'ready');
    const del = await h.api('DELETE', `/api/v1/environments/${name}`);
    assert.equal(del.body.status, 'destroying');
    const second = await h.api('PUT', `/api/v1/environments/${name}?wait=120`, { template: 'shop' });
    assert.equal(second.body.action, 'created');
    assert.notEqual(second.body.id, first.body.id);
    assert.equal(second.body.status, 'ready', JSON.stringify(second.body.failure));
    const old = await h.store.getById(first.body.id);
    assert.equal(old?.status, 'destroyed');
    assert.deepEqual(await labeledObjects(h.docker, first.body.id), { containers: 0, networks: 0, volumes: 0 });
    await h.api('DELETE', `/api/v1/environments/${name}?wait=60`);
  });
});
