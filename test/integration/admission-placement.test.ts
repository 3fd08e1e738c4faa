/**
 * Placement on a swarm's nodes as admission decides it in PostgreSQL (core/app/admission.ts):
 * many requests admitted at once, in overlapping transactions, spread over the nodes because each
 * decision counts the environments placed before it that are not running yet. Only PostgreSQL is
 * involved (a database of this file's own): the nodes are names from MAYFLY_SWARM_NODES and no
 * engine is asked. The real swarm runs in test/swarm/swarm.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { Admission } from '../../core/app/admission.js';
import { TemplateCatalog } from '../../core/catalog/templates.js';
import { loadConfig, type Config } from '../../core/config/config.js';
import { migrate } from '../../core/store/migrations.js';
import { EnvironmentStore } from '../../core/store/environments.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { uniqueName } from '../helpers/harness.js';
import { TINY_TEMPLATES_DIR } from '../helpers/tiny.js';

const SWARM = { MAYFLY_RUNTIME: 'swarm', MAYFLY_SWARM_MANAGER: 'unix:///nonexistent/manager.sock', MAYFLY_SWARM_NODES: 'n1=unix:///nonexistent/n1.sock,n2=unix:///nonexistent/n2.sock,n3=unix:///nonexistent/n3.sock' };

describe('placement on a swarm\'s nodes, decided by admission in PostgreSQL', () => {
  let database: TestDatabase;
  let pool: pg.Pool;
  let store: EnvironmentStore;

  const admissionWith = async (env: Record<string, string>): Promise<{ admission: Admission; config: Config }> => {
    const config = loadConfig({ ...env, MAYFLY_TEMPLATES_DIR: TINY_TEMPLATES_DIR, DATABASE_URL: database.url });
    const catalog = await TemplateCatalog.load(TINY_TEMPLATES_DIR, config.registry, config.defaultLimits);
    return { admission: new Admission(pool, catalog, config), config };
  };

  /** `count` queued environments of the tiny template, each of its own owner. */
  const request = async (admission: Admission, prefix: string, count: number) => {
    const images = { app: 'unused' };
    const created = [];
    for (let i = 0; i < count; i++) {
      created.push((await store.create({ name: uniqueName(`${prefix}-${i}`), template: 'tiny', owner: `owner-${i}`, images, seed: null, ttlSeconds: 600 }))!);
    }
    // Admitted at once, each in a transaction of its own held open a moment after its decision
    // (as a worker's step is): without the lock, or without counting the ones placed but not
    // running, the decisions would all see the same empty nodes.
    const outcomes = await Promise.all(created.map(async (env) => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const outcome = await admission.startInTx(client, env.id, env.generation, 'provisioning started');
        await new Promise((r) => setTimeout(r, 100));
        await client.query('COMMIT');
        return outcome.outcome;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    }));
    return { created, outcomes };
  };

  before(async () => {
    database = await createTestDatabase('mayfly_test_placement');
    pool = new pg.Pool({ connectionString: database.url, max: 16 });
    await migrate(pool);
    store = new EnvironmentStore(pool);
  });
  after(async () => {
    await pool?.end();
    await database?.drop();
  });

  it('when 12 environments are requested at once on 3 nodes without per-node budgets, then each is placed and recorded on a node, 4, 4 and 4, with a "placed on node" event', async () => {
    const { admission, config } = await admissionWith(SWARM);
    assert.deepEqual([...config.admission.nodes], ['n1', 'n2', 'n3']);
    assert.equal(config.admission.perNodeMaxEnvironments + config.admission.perNodeMemoryBudgetBytes, 0, 'no per-node budget');
    const { created, outcomes } = await request(admission, 'spread', 12);
    assert.deepEqual(outcomes, Array(12).fill('started'));
    const { rows } = await pool.query<{ node: string | null; n: number }>(
      'SELECT node, count(*)::int AS n FROM environments WHERE id = ANY($1) AND status = \'provisioning\' GROUP BY node ORDER BY node', [created.map((e) => e.id)]);
    assert.deepEqual(rows, [{ node: 'n1', n: 4 }, { node: 'n2', n: 4 }, { node: 'n3', n: 4 }]);
    for (const env of created) {
      const node = (await store.getById(env.id))!.node;
      const events = await store.events(env.id);
      assert.ok(events.some((e) => e.type === 'provisioning' && e.message === `provisioning started; placed on node ${node}`), `${env.name}: ${events.map((e) => e.message).join(' | ')}`);
    }
    await pool.query('UPDATE environments SET status = \'destroyed\', destroyed_at = now() WHERE id = ANY($1)', [created.map((e) => e.id)]);
  });

  it('when 3 more arrive while 2 nodes hold environments still provisioning, then they fill the emptier node first', async () => {
    const { admission } = await admissionWith(SWARM);
    const first = await request(admission, 'held', 4);
    assert.deepEqual(first.outcomes, Array(4).fill('started'));
    // As if the first four were all placed on n1 and n2 (none of them running yet).
    await pool.query('UPDATE environments SET node = CASE WHEN name LIKE \'held-0-%\' OR name LIKE \'held-1-%\' THEN \'n1\' ELSE \'n2\' END WHERE id = ANY($1)', [first.created.map((e) => e.id)]);
    const next = await request(admission, 'next', 3);
    const { rows } = await pool.query<{ node: string }>('SELECT node FROM environments WHERE id = ANY($1) ORDER BY node', [next.created.map((e) => e.id)]);
    assert.deepEqual(rows.map((r) => r.node), ['n1', 'n3', 'n3'], 'n3 (empty) takes two, then the tie goes by name');
    await pool.query('UPDATE environments SET status = \'destroyed\', destroyed_at = now() WHERE id = ANY($1)', [[...first.created, ...next.created].map((e) => e.id)]);
  });

  it('when the runtime is one Docker host, then admission places nothing', async () => {
    const { admission, config } = await admissionWith({});
    assert.deepEqual([...config.admission.nodes], []);
    const { created, outcomes } = await request(admission, 'single', 3);
    assert.deepEqual(outcomes, Array(3).fill('started'));
    const { rows } = await pool.query<{ node: string | null }>('SELECT node FROM environments WHERE id = ANY($1)', [created.map((e) => e.id)]);
    assert.deepEqual(rows.map((r) => r.node), [null, null, null]);
    await pool.query('UPDATE environments SET status = \'destroyed\', destroyed_at = now() WHERE id = ANY($1)', [created.map((e) => e.id)]);
  });
});
