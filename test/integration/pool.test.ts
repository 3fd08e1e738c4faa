/**
 * The warm pool on real engines (Docker, PostgreSQL, Redis, the registry): the shop template
 * with `pool: { size: 1 }` and its own copy of the demo dataset. No timed assertions: waits are
 * deadlines for the test, never what it checks.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { projectRoot } from '../../core/config/config.js';
import { LABEL_ENV, LABEL_INSTANCE, LABEL_COMPOSE_PROJECT } from '../../core/domain/names.js';
import { PoolStore, type Standby } from '../../core/store/warm-pool.js';
import { startHarness, TOKEN, type Harness } from '../helpers/harness.js';

const root = projectRoot();

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 300_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('warm pool (templates\' pool:) on real engines', () => {
  let h: Harness;
  let dir: string;
  let pool: PoolStore;
  const made: { name: string; id: string }[] = [];

  const readyStandby = (not?: string) => until(`a ready standby${not ? ` other than ${not}` : ''}`,
    async () => (await pool.list()).find((r) => r.status === 'ready' && r.id !== not));

  const deploy = async (name: string) => {
    const put = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop' });
    assert.equal(put.status, 202, JSON.stringify(put.body));
    made.push({ name, id: put.body.id });
    const env = await until(`${name} ready`, async () => {
      const e = await h.store.getById(put.body.id);
      if (e?.status === 'failed') throw new Error(`${name} failed: ${e.failure?.message}`);
      return e?.status === 'ready' ? e : undefined;
    });
    return env;
  };

  const products = async (url: string) => {
    const res = await fetch(`${url}/api/products`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 200);
    return ((await res.json()) as { products: { name: string }[] }).products;
  };

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'mayfly-pool-'));
    await cp(path.join(root, 'templates', 'shop'), path.join(dir, 'templates', 'shop'), { recursive: true });
    await appendFile(path.join(dir, 'templates', 'shop', 'template.yml'), '\npool:\n  size: 1\n');
    await cp(path.join(root, 'seed-data', 'demo'), path.join(dir, 'seeds', 'demo'), { recursive: true });
    h = await startHarness({ env: { MAYFLY_TEMPLATES_DIR: path.join(dir, 'templates'), MAYFLY_SEEDS_DIR: path.join(dir, 'seeds') } });
    pool = new PoolStore(h.pool);
  });

  after(async () => {
    for (const m of made) await h.api('DELETE', `/api/v1/environments/${m.name}?wait=300`).catch(() => undefined);
    await h.stopWorker().catch(() => undefined);
    await h.ctx.pool?.drainAll(h.ctx).catch(() => undefined);
    await h.close();
    await rm(dir, { recursive: true, force: true });
  });

  let first: Standby;

  it('when a template keeps a pool, then a standby starts, and admission counts it as holding capacity', async () => {
    first = await readyStandby();
    assert.equal(first.template, 'shop');
    assert.equal(first.seed, 'demo');
    assert.ok(first.snapshotKey || first.cloneStrategy === 'restore', 'the standby records the golden it was cloned from');
    const usage = await h.ctx.admission.usage();
    const standbys = (await pool.list()).length;
    assert.equal(usage.holding, standbys, 'no environment exists yet: what holds capacity is the pool');
    assert.equal(usage.reservedMemoryBytes, standbys * h.ctx.admission.memoryOf('shop'));
    const objects = await h.docker.listContainers({ filters: { label: [`${LABEL_ENV}=${first.id}`] } });
    assert.equal(objects.length, 2, 'the standby runs the whole stack');
  });

  it('when a request claims it, then the environment is ready with its own name, URL and labels, and nothing of the standby shows', async () => {
    const env = await deploy('claimer');
    assert.equal(env.id, first.id, 'the request took the standby (its reserved id)');
    assert.equal(env.name, 'claimer');
    assert.equal((await pool.list()).some((r) => r.id === first.id), false, 'a claimed standby is no longer the pool\'s');
    const standbyName = `standby-${first.id.slice(0, 8)}`;
    const containers = await h.docker.listContainers({ all: true, filters: { label: [`${LABEL_ENV}=${env.id}`] } });
    assert.equal(containers.length, 2);
    for (const c of containers) {
      const info = await h.docker.getContainer(c.Id).inspect();
      assert.equal(info.Config.Labels[LABEL_COMPOSE_PROJECT], env.project);
      assert.ok(info.Name.startsWith(`/${env.project}-`), info.Name);
      assert.ok(!JSON.stringify({ env: info.Config.Env, labels: info.Config.Labels, name: info.Name }).includes(standbyName), `${info.Name} shows the standby's name`);
      if (info.Config.Labels['com.docker.compose.service'] === 'web') assert.ok(info.Config.Env.includes('MAYFLY_ENVIRONMENT=claimer'), 'the web service knows the claimant\'s name');
    }
    const networks = await h.docker.listNetworks({ filters: { label: [`${LABEL_ENV}=${env.id}`] } });
    const volumes = (await h.docker.listVolumes({ filters: { label: [`${LABEL_ENV}=${env.id}`] } })).Volumes ?? [];
    for (const o of [...networks.map((n) => n.Name), ...volumes.map((v) => v.Name)]) assert.ok(o.startsWith(`${env.project}_`), o);
    assert.match(env.urls.web!, /claimer/, 'the URL is the claimant\'s');
    assert.equal((await products(env.urls.web!)).length, 12, 'the seeded data answers through the claimant\'s URL');
    const requested = (await h.store.events(env.id)).find((e) => e.type === 'requested');
    assert.match(requested!.message, /warm pool/);
    const stats = (await h.ctx.admission.poolStats()).find((s) => s.template === 'shop')!;
    assert.equal(stats.hits, 1);
  });

  it('when a standby is claimed, then the pool starts another', async () => {
    const next = await readyStandby(first.id);
    assert.notEqual(next.id, first.id);
  });

  it('when the golden is rebuilt (the dataset changed), then a stale standby is never handed out', async () => {
    const stale = await readyStandby(first.id);
    const sql = path.join(dir, 'seeds', 'demo', '01-products.sql');
    await writeFile(sql, (await readFile(sql, 'utf8')).replace("('Tasting spoon', 300);", "('Tasting spoon', 300),\n  ('Pool test grinder', 4500);"));
    const refresh = await h.api('POST', '/api/v1/seeds/demo/refresh');
    assert.ok(refresh.status < 300, JSON.stringify(refresh.body));
    const fresh = await until('the rebuilt golden', async () => {
      const { rows } = await h.pool.query(`SELECT key FROM seed_snapshots WHERE dataset = 'demo' AND status = 'ready' ORDER BY ready_at DESC LIMIT 1`);
      return rows[0]?.key !== stale.snapshotKey ? rows[0]?.key as string : undefined;
    });
    const env = await deploy('after-refresh');
    assert.notEqual(env.id, stale.id, 'the stale standby was not handed out');
    const row = await h.pool.query('SELECT snapshot_key FROM environments WHERE id = $1', [env.id]);
    assert.equal(row.rows[0].snapshot_key, fresh);
    assert.equal((await products(env.urls.web!)).length, 13, 'the claimant sees the new data');
    await until('the stale standby drained', async () => !(await pool.list()).some((r) => r.id === stale.id));
    const current = await until('a standby of the new golden', async () => (await pool.list()).find((r) => r.status === 'ready' && r.snapshotKey === fresh));
    assert.equal(current.template, 'shop');
  });

  it('when environments are destroyed and the pool is drained, then nothing of this instance is left', async () => {
    for (const m of made.splice(0)) {
      const del = await h.api('DELETE', `/api/v1/environments/${m.name}?wait=300`);
      assert.ok(del.status < 300, JSON.stringify(del.body));
    }
    await h.stopWorker();
    const drained = await h.ctx.pool!.drainAll(h.ctx);
    assert.ok(drained >= 1, 'there was a standby to drain');
    assert.deepEqual(await pool.list(), []);
    const filters = { label: [`${LABEL_INSTANCE}=${h.config.instance}`, LABEL_ENV] };
    const [containers, networks, volumes] = await Promise.all([
      h.docker.listContainers({ all: true, filters }), h.docker.listNetworks({ filters }), h.docker.listVolumes({ filters }),
    ]);
    assert.deepEqual({ containers: containers.length, networks: networks.length, volumes: (volumes.Volumes ?? []).length }, { containers: 0, networks: 0, volumes: 0 });
  });
});
