import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../../core/config/config.js';
import { labeledObjects, startHarness, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';
import { assertHostHasReflink, destroyed, productsFingerprint, psql, ready } from '../helpers/seed-checks.js';

async function seedsCopy(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mayfly-seeds-'));
  await cp(path.join(projectRoot(), 'seed-data', 'demo'), path.join(dir, 'demo'), { recursive: true });
  return dir;
}

describe('datasets, goldens and saved snapshots', () => {
  let h: Harness;
  let seedsDir: string;
  before(async () => {
    seedsDir = await seedsCopy();
    h = await startHarness({ env: { MAYFLY_SEEDS_DIR: seedsDir } });
  });
  after(async () => { await h.close(); await rm(seedsDir, { recursive: true, force: true }); });

  it('when three environments of a new dataset are requested at once, then its golden is built once and all three clone it', async () => {
    const names = [uniqueName('g1'), uniqueName('g2'), uniqueName('g3')];
    const envs = await Promise.all(names.map((n) => ready(h, n, { template: 'shop' })));
    const keys = new Set(envs.map((e) => e.database?.snapshot));
    assert.equal(keys.size, 1);
    const { rows } = await h.pool.query(`SELECT count(*)::int AS n FROM seed_snapshots WHERE dataset = 'demo'`);
    assert.equal(rows[0].n, 1, 'one golden row');
    const built = (await Promise.all(envs.map((e) => h.store.events(e.id))))
      .flat().filter((e) => e.type === 'cloned' && (e.data as { builtGolden?: boolean })?.builtGolden);
    assert.equal(built.length, 1, 'exactly one environment waited for the build');
    for (const n of names) await destroyed(h, n);
  });

  it('when the dataset changes, then new environments get a new golden with the change, old ones keep theirs, and the old golden is collected once unused', async () => {
    const oldName = uniqueName('before');
    const before = await ready(h, oldName, { template: 'shop' });
    assert.ok((await productsFingerprint(h, before.id)).startsWith('12:'));
    await writeFile(path.join(seedsDir, 'demo', '02-more.sql'), `INSERT INTO products (name, price_cents) VALUES ('New in this dataset version', 999);\n`);
    const newName = uniqueName('after');
    const after = await ready(h, newName, { template: 'shop' });
    assert.notEqual(after.database?.snapshot, before.database?.snapshot, 'a changed dataset makes a new golden');
    assert.ok((await productsFingerprint(h, after.id)).startsWith('13:'));
    assert.ok((await productsFingerprint(h, before.id)).startsWith('12:'), 'the old environment keeps its data');

    const seeds = await h.api('GET', '/api/v1/seeds');
    assert.equal(seeds.status, 200);
    await assertHostHasReflink(h.docker);
    assert.equal(seeds.body.strategy.chosen, 'reflink', 'auto picks reflink where the host has it');
    const readyz = await h.api('GET', '/readyz', undefined, {});
    assert.deepEqual({ ...readyz.body.detail.cloneStrategy, probedAt: undefined },
      { chosen: 'reflink', expected: 'reflink', downgraded: false, probedAt: undefined }, 'readiness shows the strategy, not downgraded');
    const demo = seeds.body.datasets.find((d: { name: string }) => d.name === 'demo');
    assert.deepEqual(demo.files, ['01-products.sql', '02-more.sql']);
    assert.ok(demo.snapshots.length >= 2);

    const oldKey = before.database!.snapshot!;
    const oldVolume = (await h.ctx.snapshots.get(oldKey))!.volume;
    await destroyed(h, oldName);
    await h.pool.query(`UPDATE seed_snapshots SET last_used_at = now() - interval '1 hour' WHERE key = $1`, [oldKey]);
    await waitUntil('the old golden to be collected', 20_000, async () => (await h.ctx.snapshots.get(oldKey))?.status === 'removed');
    assert.equal(await h.docker.getVolume(oldVolume).inspect().then(() => true, () => false), false, 'its volume is gone');
    await destroyed(h, newName);
  });

  it('when QA saves an environment\'s database, then a new environment started from that snapshot has the saved rows', async () => {
    const src = uniqueName('bug-src');
    const env = await ready(h, src, { template: 'shop' });
    await psql(h, env.id, `INSERT INTO products (name, price_cents) VALUES ('the row behind bug 123', 123)`);
    const expected = await productsFingerprint(h, env.id);
    const dataset = uniqueName('bug');
    const saved = await h.api('POST', `/api/v1/environments/${src}/snapshots`, { name: dataset });
    assert.equal(saved.status, 202, JSON.stringify(saved.body));
    await waitUntil('the saved snapshot', 60_000, async () => {
      const s = await h.api('GET', '/api/v1/seeds');
      return s.body.datasets.find((d: { name: string; snapshots: { status: string }[] }) => d.name === dataset && d.snapshots[0]?.status === 'ready');
    });
    const db = (await h.runtime.services(env.id)).find((s) => s.service === 'db');
    assert.equal(db?.health, 'healthy', 'the database brought back reads healthy as soon as our probe passed, not "starting" until Docker\'s first check');
    assert.equal(await productsFingerprint(h, env.id), expected, 'the source environment is back and unchanged');

    const dev = uniqueName('bug-dev');
    const copy = await ready(h, dev, { template: 'shop', seed: dataset });
    assert.equal(await productsFingerprint(h, copy.id), expected);

    const again = await h.api('POST', `/api/v1/environments/${src}/snapshots`, { name: dataset });
    assert.equal(again.status, 400, 'a name is saved once');
    assert.equal(again.body.error.details[0].field, 'name');
    const unknown = await h.api('PUT', `/api/v1/environments/${uniqueName('x')}`, { template: 'shop', seed: 'never-saved' });
    assert.equal(unknown.status, 400);
    await destroyed(h, src);
    await destroyed(h, dev);
  });
});

describe('a dataset that does not load', () => {
  let h: Harness;
  let seedsDir: string;
  before(async () => {
    seedsDir = await seedsCopy();
    await writeFile(path.join(seedsDir, 'demo', '02-broken.sql'), 'INSERT INTO no_such_table VALUES (1);\n');
    h = await startHarness({ env: { MAYFLY_SEEDS_DIR: seedsDir } });
  });
  after(async () => { await h.close(); await rm(seedsDir, { recursive: true, force: true }); });

  it('when the golden cannot be built, then the environment fails with the reason and leaves no volume behind', async () => {
    const name = uniqueName('broken');
    const res = await h.api('PUT', `/api/v1/environments/${name}?wait=120`, { template: 'shop' });
    assert.equal(res.body.status, 'failed');
    assert.equal(res.body.failure.code, 'SEED_FAILED');
    assert.match(res.body.failure.message, /02-broken\.sql/);
    // Failed first, then cleaned (its network was made while the golden was being built).
    await waitUntil('the failed environment to be cleaned, and its timeline to say so', 30_000, async () => {
      const o = await labeledObjects(h.docker, res.body.id);
      return o.containers + o.networks + o.volumes === 0 && (await h.store.events(res.body.id)).some((e) => e.type === 'cleaned');
    });
    const builders = await h.docker.listContainers({ all: true, filters: { label: ['mayfly.golden-build'] } });
    assert.equal(builders.filter((c) => c.Labels['mayfly.instance'] === h.config.instance).length, 0, 'no golden builder left');
  });
});
