import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { EnvironmentStore } from '../../core/store/environments.js';
import { startHarness, labeledObjects, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';
import { TINY_TEMPLATES_DIR } from '../helpers/tiny.js';

describe('admission limits and the line', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ env: { MAYFLY_TEMPLATES_DIR: TINY_TEMPLATES_DIR, MAYFLY_MAX_ENVIRONMENTS: '2', MAYFLY_MAX_ENVIRONMENTS_PER_OWNER: '2' } });
  });
  after(async () => { await h.close(); });

  const settled = (name: string) => waitUntil(`${name} to be ready`, 90_000, async () => {
    const r = await h.api('GET', `/api/v1/environments/${name}`);
    if (r.body.status === 'failed') throw new Error(`${name} failed: ${JSON.stringify(r.body.failure)}`);
    return r.body.status === 'ready' ? r.body : undefined;
  });

  it('when the global limit is reached, then the next one waits in line with a position, an estimate and a reason, and starts when one is destroyed', async () => {
    const [a, b, c] = [uniqueName('tiny-a'), uniqueName('tiny-b'), uniqueName('tiny-c')];
    assert.equal((await h.api('PUT', `/api/v1/environments/${a}`, { template: 'tiny' })).status, 202);
    assert.equal((await h.api('PUT', `/api/v1/environments/${b}`, { template: 'tiny' }, { Authorization: 'Bearer other-secret-0123456789' })).status, 202);
    await settled(a);
    await settled(b);
    const third = await h.api('PUT', `/api/v1/environments/${c}`, { template: 'tiny' });
    assert.equal(third.status, 202);
    const waiting = await waitUntil('the third to be told why it waits', 30_000, async () => {
      const r = await h.api('GET', `/api/v1/environments/${c}`);
      return r.body.queuePosition ? r.body : undefined;
    });
    assert.equal(waiting.status, 'queued');
    assert.equal(waiting.queuePosition, 1);
    assert.ok(waiting.estimatedStartSeconds > 0, `an estimate: ${waiting.estimatedStartSeconds}`);
    assert.match(waiting.queueReason, /slots are taken/);
    // The worker writes the timeline's event when its job finds no room (the API shows the line at once).
    await waitUntil('an event saying why it waits', 60_000, async () =>
      (await h.store.events(waiting.id)).some((e) => e.type === 'waiting' && /position 1/.test(e.message)) || undefined);
    const listed = await h.api('GET', '/api/v1/environments');
    assert.equal(listed.body.environments.find((e: any) => e.name === c).queuePosition, 1);
    // Still waiting a while later: nothing started past the limit.
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal((await h.api('GET', `/api/v1/environments/${c}`)).body.status, 'queued');

    await h.api('DELETE', `/api/v1/environments/${a}`);
    const started = await settled(c);
    assert.equal(started.queuePosition, null);
    for (const n of [b, c]) await h.api('DELETE', `/api/v1/environments/${n}?wait=60`);
  });

  it('when the caller asks not to wait and no capacity is free, then it gets 429 with Retry-After and nothing is created', async () => {
    const [a, b] = [uniqueName('tiny-full-a'), uniqueName('tiny-full-b')];
    for (const n of [a, b]) await h.api('PUT', `/api/v1/environments/${n}`, { template: 'tiny' }, { Authorization: `Bearer ${n === a ? 'test-secret-0123456789' : 'other-secret-0123456789'}` });
    await settled(a);
    await settled(b);
    for (const [path, headers] of [
      [`/api/v1/environments/${uniqueName('tiny-refused')}?queue=false`, {}],
      [`/api/v1/environments/${uniqueName('tiny-refused')}`, { Prefer: 'no-queue' }],
    ] as const) {
      const refused = await h.api('PUT', path, { template: 'tiny' }, { Authorization: 'Bearer test-secret-0123456789', ...headers });
      assert.equal(refused.status, 429, JSON.stringify(refused.body));
      assert.equal(refused.body.error.code, 'CAPACITY_EXCEEDED');
      assert.ok(Number(refused.headers.get('retry-after')) >= 1, `Retry-After: ${refused.headers.get('retry-after')}`);
    }
    const { rows } = await h.pool.query(`SELECT count(*)::int AS n FROM environments WHERE name LIKE 'tiny-refused-%'`);
    assert.equal(rows[0].n, 0, 'nothing was created');

    // With capacity free, a no-queue request starts at once.
    await h.api('DELETE', `/api/v1/environments/${a}?wait=60`);
    const now = uniqueName('tiny-now');
    const accepted = await h.api('PUT', `/api/v1/environments/${now}?queue=false`, { template: 'tiny' });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    assert.equal(accepted.body.status, 'provisioning');
    await settled(now);
    for (const n of [b, now]) {
      const gone = await h.api('DELETE', `/api/v1/environments/${n}?wait=60`);
      assert.equal(gone.body.status, 'destroyed');
      assert.deepEqual(await labeledObjects(h.docker, gone.body.id), { containers: 0, networks: 0, volumes: 0 });
    }
  });

  it('when an owner is at their own limit, then their next one waits saying so, and starts when one of theirs goes', async () => {
    const mine = [uniqueName('tiny-own-1'), uniqueName('tiny-own-2'), uniqueName('tiny-own-3')];
    await h.api('PUT', `/api/v1/environments/${mine[0]}`, { template: 'tiny' });
    await h.api('PUT', `/api/v1/environments/${mine[1]}`, { template: 'tiny' });
    await settled(mine[0]!);
    await settled(mine[1]!);
    await h.api('PUT', `/api/v1/environments/${mine[2]}`, { template: 'tiny' });
    const waiting = await waitUntil('the third of one owner to wait', 30_000, async () => {
      const r = await h.api('GET', `/api/v1/environments/${mine[2]}`);
      return r.body.queuePosition ? r.body : undefined;
    });
    assert.match(waiting.queueReason, /test has 2 of at most 2/);
    await h.api('DELETE', `/api/v1/environments/${mine[0]}`);
    await settled(mine[2]!);
    for (const n of mine.slice(1)) await h.api('DELETE', `/api/v1/environments/${n}?wait=60`);
  });

  it('when 12 requests that will not wait arrive at once with 2 slots free, then exactly 2 are admitted and 10 get 429', async () => {
    const names = Array.from({ length: 12 }, (_, i) => uniqueName(`tiny-burst-${i}`));
    const results = await Promise.all(names.map((n, i) => h.api('PUT', `/api/v1/environments/${n}?queue=false`, { template: 'tiny' },
      { Authorization: `Bearer ${i % 2 ? 'other-secret-0123456789' : 'test-secret-0123456789'}` })));
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [...Array(2).fill(202), ...Array(10).fill(429)], JSON.stringify(results.map((r) => r.body.error?.code ?? r.body.status)));
    const { rows } = await h.pool.query(`SELECT count(*)::int AS n, count(*) FILTER (WHERE holds_capacity)::int AS holding FROM environments WHERE name LIKE 'tiny-burst-%'`);
    assert.deepEqual(rows[0], { n: 2, holding: 2 });
    for (const r of results.filter((x) => x.status === 202)) await settled(r.body.name);
    for (const r of results.filter((x) => x.status === 202)) await h.api('DELETE', `/api/v1/environments/${r.body.name}?wait=60`);
  });

  it('when 8 requests that will not wait are recorded in overlapping transactions (each held open 300 ms before its commit) with 2 slots free, then exactly 2 start and 6 are refused', async () => {
    await h.stopWorker(); // the decisions below are the only ones
    // A pool of its own, with a connection per request ready, so that the transactions truly overlap.
    const pool = new pg.Pool({ connectionString: h.config.databaseUrl, max: 8 });
    const store = new EnvironmentStore(pool);
    await Promise.all(Array.from({ length: 8 }, async () => pool.connect())).then((clients) => clients.forEach((c) => c.release()));
    try {
      const outcomes = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
        try {
          // As the application service records a request that will not wait: create and admit in one transaction.
          const env = await store.transaction(async (tx, client) => {
            const created = await tx.create({ name: uniqueName(`tiny-overlap-${i}`), template: 'tiny', owner: `owner-${i}`, images: h.ctx.catalog.resolveImages('tiny', undefined, {}), seed: null, ttlSeconds: 600 });
            await h.ctx.admission.startNowOrRefuse(client, created!.id);
            // Without the lock every transaction would decide before the others commit.
            await new Promise((r) => setTimeout(r, 300));
            return (await tx.getById(created!.id))!;
          });
          return env.status;
        } catch (err) {
          return (err as { code?: string }).code ?? String(err);
        }
      }));
      assert.deepEqual([...outcomes].sort(), [...Array(6).fill('CAPACITY_EXCEEDED'), 'provisioning', 'provisioning'], JSON.stringify(outcomes));
      const { rows } = await h.pool.query(`SELECT count(*)::int AS n, count(*) FILTER (WHERE holds_capacity)::int AS holding FROM environments WHERE name LIKE 'tiny-overlap-%'`);
      assert.deepEqual(rows[0], { n: 2, holding: 2 });
      await h.pool.query(`UPDATE environments SET status = 'destroyed', destroyed_at = now() WHERE name LIKE 'tiny-overlap-%'`);
    } finally {
      await pool.end();
      await h.startWorker();
    }
  });
});
