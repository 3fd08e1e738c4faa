/**
 * The same checks for every clone strategy: an environment's data equals the seed; a write in
 * one environment is invisible to another and to the golden; reset-db restores the seed without
 * touching the web service; destroying removes the clone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CloneStrategy } from '../../core/catalog/datasets.js';
import { labeledObjects, startHarness, uniqueName, type Harness } from './harness.js';
import { assertHostHasReflink, destroyed, productsFingerprint, psql, ready } from './seed-checks.js';

const SEED = '12:'; // 12 products in seed-data/demo

/**
 * @param via for reflink and copy: whether the worker copies on the host ('host', the default here)
 * or in a helper container ('helper': MAYFLY_LOCAL_VOLUMES=off, as with a remote engine).
 */
export function strategySuite(strategy: CloneStrategy, via: 'host' | 'helper' = 'host'): void {
  const where = strategy === 'reflink' || strategy === 'copy' ? `, copied ${via === 'host' ? 'on the host' : 'in a helper container'}` : '';
  describe(`seed data with the ${strategy} strategy${where}`, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness({ env: { MAYFLY_CLONE_STRATEGY: strategy, MAYFLY_LOCAL_VOLUMES: via === 'host' ? 'on' : 'off' } });
      if (strategy === 'reflink') await assertHostHasReflink(h.docker);
    });
    after(async () => { await h.close(); });

    it(`when two environments start from one seed (${strategy}), then each sees the seed, and a write in one is invisible to the other and to later clones`, async () => {
      const a = uniqueName('seed-a'), b = uniqueName('seed-b');
      const envA = await ready(h, a, { template: 'shop' });
      assert.equal(envA.database?.strategy, strategy);
      if (strategy !== 'restore') assert.match(envA.database?.snapshot ?? '', /^[0-9a-f]{32}$/);
      if (where) {
        const cloned = (await h.store.events(envA.id)).find((e) => e.type === 'cloned');
        assert.equal((cloned?.data as { via?: string })?.via, via, `the clone was copied ${via === 'host' ? 'on the host' : 'in a helper'}: ${cloned?.message}`);
      }
      const seed = await productsFingerprint(h, envA.id);
      assert.ok(seed.startsWith(SEED), seed);

      await psql(h, envA.id, `INSERT INTO products (name, price_cents) VALUES ('only in A', 1); UPDATE products SET price_cents = 0 WHERE id = 1`);
      assert.notEqual(await productsFingerprint(h, envA.id), seed);

      const envB = await ready(h, b, { template: 'shop' });
      assert.equal(await productsFingerprint(h, envB.id), seed, 'B starts from the untouched seed');
      if (strategy !== 'restore') assert.equal(envB.database?.snapshot, envA.database?.snapshot, 'both cloned from one golden');

      // reset-db: A's database goes back to the seed; its web container is not recreated.
      const webBefore = (await h.docker.listContainers({ filters: { label: [`mayfly.env=${envA.id}`, 'com.docker.compose.service=web'] } }))[0]!.Id;
      const reset = await h.api('POST', `/api/v1/environments/${a}/reset-db?wait=120`);
      assert.equal(reset.status, 202, JSON.stringify(reset.body));
      assert.equal(reset.body.status, 'ready', JSON.stringify(reset.body.failure));
      assert.equal(await productsFingerprint(h, envA.id), seed, 'reset-db restores the seed');
      const webAfter = (await h.docker.listContainers({ filters: { label: [`mayfly.env=${envA.id}`, 'com.docker.compose.service=web'] } }))[0]!.Id;
      assert.equal(webAfter, webBefore, 'the web service was not touched');
      assert.equal(await productsFingerprint(h, envB.id), seed, 'resetting A does not touch B');

      await destroyed(h, a);
      await destroyed(h, b);
      for (const id of [envA.id, envB.id]) assert.deepEqual(await labeledObjects(h.docker, id), { containers: 0, networks: 0, volumes: 0 }, 'the clone is gone');
    });
  });
}
