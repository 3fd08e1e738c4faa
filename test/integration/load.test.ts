import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';
import { TINY_TEMPLATES_DIR } from '../helpers/tiny.js';

const LIMIT = 3;

describe('load: 50 concurrent mixed requests against the real service', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ env: { MAYFLY_TEMPLATES_DIR: TINY_TEMPLATES_DIR, MAYFLY_MAX_ENVIRONMENTS: String(LIMIT), MAYFLY_WORKER_CONCURRENCY: '8' } });
  });
  after(async () => { await h.close(); });

  /** Environments holding capacity (PostgreSQL) and this harness's containers (Docker), sampled while the load runs. */
  async function sample() {
    const [{ rows }, containers] = await Promise.all([
      h.pool.query(`SELECT count(*)::int AS n FROM environments WHERE holds_capacity AND status NOT IN ('failed', 'destroyed')`),
      h.docker.listContainers({ all: true, filters: { label: [`mayfly.instance=${h.config.instance}`] } }),
    ]);
    return { holding: rows[0].n as number, containers: containers.length };
  }

  it(`when 50 requests of every kind arrive at once with a limit of ${LIMIT}, then the limit holds, one name gives one environment, and nothing is left after destroying all`, async () => {
    const shared = uniqueName('load-same');
    const distinct = Array.from({ length: 15 }, (_, i) => uniqueName(`load-${i}`));
    const requests: { kind: string; run: () => ReturnType<Harness['api']> }[] = [
      ...Array.from({ length: 10 }, () => ({ kind: 'put-same', run: () => h.api('PUT', `/api/v1/environments/${shared}`, { template: 'tiny' }) })),
      ...distinct.map((n) => ({ kind: 'put', run: () => h.api('PUT', `/api/v1/environments/${n}`, { template: 'tiny' }) })),
      ...Array.from({ length: 8 }, () => ({ kind: 'get', run: () => h.api('GET', `/api/v1/environments/${shared}`) })),
      ...Array.from({ length: 7 }, () => ({ kind: 'list', run: () => h.api('GET', '/api/v1/environments') })),
      ...Array.from({ length: 5 }, () => ({ kind: 'extend', run: () => h.api('POST', `/api/v1/environments/${shared}/extend`, { ttl: '1h' }) })),
      ...distinct.slice(0, 5).map((n) => ({ kind: 'delete', run: () => h.api('DELETE', `/api/v1/environments/${n}`) })),
    ];
    assert.equal(requests.length, 50);

    let sampling = true;
    const samples: { holding: number; containers: number }[] = [];
    const sampler = (async () => {
      while (sampling) {
        samples.push(await sample());
        await new Promise((r) => setTimeout(r, 150));
      }
    })();

    try {
      const results = await Promise.all(requests.map(async (r) => ({ kind: r.kind, res: await r.run() })));
      const allowed: Record<string, number[]> = {
        'put-same': [200, 202], put: [202], get: [200, 404], list: [200], extend: [200, 404], delete: [202, 404],
      };
      for (const { kind, res } of results) assert.ok(allowed[kind]!.includes(res.status), `${kind}: ${res.status} ${JSON.stringify(res.body)}`);
      const sameIds = new Set(results.filter((r) => r.kind === 'put-same').map((r) => r.res.body.id));
      assert.equal(sameIds.size, 1, 'same-name PUTs give one environment');
      const { rows: same } = await h.pool.query('SELECT count(*)::int AS n FROM environments WHERE name = $1', [shared]);
      assert.equal(same[0].n, 1);

      // Let everything run through the line: destroy whatever becomes ready (or failed) until nothing is live.
      await waitUntil('every environment to pass through the line and be destroyed', 420_000, async () => {
        const live = await h.store.list({ statuses: ['queued', 'provisioning', 'ready', 'failed', 'destroying'] });
        for (const env of live.filter((e) => e.status === 'ready' || e.status === 'failed')) await h.api('DELETE', `/api/v1/environments/${env.name}`);
        return live.length === 0;
      });
    } finally {
      sampling = false;
      await sampler;
    }

    const maxHolding = Math.max(...samples.map((s) => s.holding));
    const maxContainers = Math.max(...samples.map((s) => s.containers));
    console.log(`load: ${samples.length} samples, at most ${maxHolding} environments holding capacity and ${maxContainers} containers (limit ${LIMIT})`);
    assert.ok(maxHolding <= LIMIT, `holding capacity: at most ${maxHolding}`);
    assert.ok(maxContainers <= LIMIT, `containers (one per tiny environment): at most ${maxContainers}`);
    assert.equal(maxHolding, LIMIT, 'the load was enough to reach the limit');

    // The record agrees, independent of sampling: never more than LIMIT admitted-and-not-yet-destroyed at once.
    const { rows: spans } = await h.pool.query<{ admitted_at: Date; destroyed_at: Date }>(
      'SELECT admitted_at, destroyed_at FROM environments WHERE admitted_at IS NOT NULL');
    for (const s of spans) {
      const overlapping = spans.filter((o) => o.admitted_at <= s.admitted_at && o.destroyed_at > s.admitted_at).length;
      assert.ok(overlapping <= LIMIT, `${overlapping} environments held capacity at ${s.admitted_at.toISOString()}`);
    }

    const { rows: statuses } = await h.pool.query(`SELECT status, count(*)::int AS n FROM environments GROUP BY status`);
    assert.deepEqual(statuses, [{ status: 'destroyed', n: statuses[0]?.n }], `every row destroyed: ${JSON.stringify(statuses)}`);
    const filters = { label: [`mayfly.instance=${h.config.instance}`] };
    const [containers, networks, volumes] = await Promise.all([
      h.docker.listContainers({ all: true, filters }), h.docker.listNetworks({ filters }), h.docker.listVolumes({ filters }),
    ]);
    assert.deepEqual({ containers: containers.length, networks: networks.length, volumes: (volumes.Volumes ?? []).length }, { containers: 0, networks: 0, volumes: 0 });
  });
});
