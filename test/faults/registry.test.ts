import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, labeledObjects, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';
import { startPrivateRegistry, type PrivateRegistry } from '../helpers/private-engines.js';
import { FAULT_ENV, noLeftovers, pushFreshImage, removeImage, settled } from '../helpers/faults.js';

describe('faults: the registry', { timeout: 420_000 }, () => {
  let h: Harness;
  let registry: PrivateRegistry;
  const made: string[] = [];
  before(async () => {
    // 2 MB/s through the slow proxy: a 24 MB layer takes 12 s, time enough to stop the registry mid-pull.
    registry = await startPrivateRegistry({ throttleBytesPerSecond: 2_000_000 });
    // The stack policy allows images only from listed registries: the shared one and this private one.
    h = await startHarness({ env: { ...FAULT_ENV, MAYFLY_ALLOWED_REGISTRIES: `127.0.0.1:5000,${registry.address},${registry.slowAddress}` } });
  });
  after(async () => {
    await h?.close();
    await registry?.stop();
    for (const ref of made) await removeImage(h.docker, ref);
  });

  async function containersFrom(image: string): Promise<number> {
    const all = await h.docker.listContainers({ all: true });
    return all.filter((c) => c.Image === image).length;
  }

  it('when the registry dies in the middle of a pull, then the environment fails with the reason and no container is made from the image', { timeout: 300_000 }, async () => {
    const image = await pushFreshImage(h.docker, `${h.config.registry}/mayfly/node:bookworm`, registry.address, 24, registry.slowAddress);
    made.push(image);
    const name = uniqueName('fault-regdies');
    const res = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'tiny', images: { app: image } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    await waitUntil('the pull to be under way', 120_000, async () => registry.bytesServed() > 3_000_000);
    // The timeline shows the pull's layers and bytes while it runs (about once a second).
    const shown = await waitUntil('pull progress in the timeline', 60_000, async () =>
      (await h.store.events(res.body.id)).find((e) => e.type === 'progress' && /^pulling .*: \d+ of \d+ layers, [\d.]+ of [\d.]+ MB$/.test(e.message)));
    assert.ok(shown.message.includes(image), shown.message);
    await registry.kill();
    const env = await settled(h, res.body.id, 240_000);
    assert.equal(env.status, 'failed');
    assert.match(env.failure!.code, /^IMAGE_(PULL_FAILED|NOT_FOUND)$/);
    assert.ok(env.failure!.message.includes(image), `the reason names the image: ${env.failure!.message}`);
    assert.equal(await containersFrom(image), 0, 'no container was made from the image');
    await waitUntil('its objects to go', 30_000, async () => {
      const o = await labeledObjects(h.docker, env.id);
      return o.containers + o.networks + o.volumes === 0;
    });
    await noLeftovers(h, h.docker, [env.project]);
  });

  it('when the registry is down from the start, then the environment fails with IMAGE_PULL_FAILED, the documented code, after its retries', { timeout: 240_000 }, async () => {
    // The private registry was killed by the first test; its address refuses connections.
    const image = `${registry.address}/mayfly/node:never-served`;
    const res = await h.api('PUT', `/api/v1/environments/${uniqueName('fault-regdown')}`, { template: 'tiny', images: { app: image } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const env = await settled(h, res.body.id, 180_000);
    assert.equal(env.status, 'failed');
    assert.equal(env.failure!.code, 'IMAGE_PULL_FAILED', JSON.stringify(env.failure));
    assert.match(env.failure!.message, /is its registry up\?/);
    await waitUntil('its objects to go', 30_000, async () => {
      const o = await labeledObjects(h.docker, env.id);
      return o.containers + o.networks + o.volumes === 0;
    });
  });

  it('when an image does not exist, then the environment fails with IMAGE_NOT_FOUND and nothing is made', { timeout: 120_000 }, async () => {
    const image = `${h.config.registry}/mayfly/node:does-not-exist-${Date.now()}`;
    const name = uniqueName('fault-noimage');
    const res = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'tiny', images: { app: image } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const env = await settled(h, res.body.id, 90_000);
    assert.equal(env.status, 'failed');
    assert.equal(env.failure!.code, 'IMAGE_NOT_FOUND');
    assert.ok(env.failure!.message.includes(image), env.failure!.message);
    assert.equal(await containersFrom(image), 0);
    assert.deepEqual(await labeledObjects(h.docker, env.id), { containers: 0, networks: 0, volumes: 0 });
    await noLeftovers(h, h.docker, [env.project]);
  });
});
