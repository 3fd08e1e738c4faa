import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AUTH, startHarness, labeledObjects, uniqueName, type Harness, TEST_ACTOR } from '../helpers/harness.js';

async function page(url: string): Promise<{ tag: string | undefined; products: number | undefined }> {
  // Previews are private: the router lets the test's API token in.
  const html = await (await fetch(url, { headers: AUTH })).text();
  return {
    tag: /data-testid="tag">([^<]*)</.exec(html)?.[1],
    products: Number(/<h2>(\d+) products/.exec(html)?.[1]) || undefined,
  };
}

describe('an environment from request to teardown, on the real engines', () => {
  let h: Harness;
  before(async () => { h = await startHarness(); });
  after(async () => { await h.close(); });

  it('when a PUT asks for shop at pr-1, then it becomes ready, serves pr-1 with the seed products, redeploys in place to pr-2 keeping its lease, and DELETE leaves nothing labeled', async (t) => {
    const name = uniqueName('shop-pr');
    const started = Date.now();
    const created = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop', tag: 'pr-1', ttl: '1h' });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    assert.equal(created.body.action, 'created');
    assert.equal(created.body.status, 'queued');
    const id = created.body.id;

    const ready = await h.api('GET', `/api/v1/environments/${name}?wait=120`);
    const readyMs = Date.now() - started;
    assert.equal(ready.body.status, 'ready', JSON.stringify(ready.body.failure));
    t.diagnostic(`request to ready: ${readyMs} ms`);
    assert.equal(ready.body.urls.web, `http://${name}.localhost:${h.routerPort}`, 'the router address');
    assert.match(ready.body.digests.web, /@sha256:[0-9a-f]{64}$/);
    assert.deepEqual(await page(ready.body.urls.web), { tag: 'pr-1', products: 12 });

    // Same body again: idempotent, nothing redeployed.
    const again = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop', tag: 'pr-1' });
    assert.equal(again.status, 200);
    assert.equal(again.body.action, 'unchanged');
    assert.equal(again.body.generation, 1);

    const redeploy = await h.api('PUT', `/api/v1/environments/${name}?wait=120`, { template: 'shop', tag: 'pr-2' });
    assert.equal(redeploy.status, 202);
    assert.equal(redeploy.body.action, 'redeployed');
    assert.equal(redeploy.body.id, id, 'a redeploy keeps the environment id');
    assert.equal(redeploy.body.status, 'ready', JSON.stringify(redeploy.body.failure));
    assert.equal(redeploy.body.generation, 2);
    assert.deepEqual(await page(redeploy.body.urls.web), { tag: 'pr-2', products: 12 }, 'the data volume survives a redeploy');
    // A new tag is not a new lease: without a ttl the redeploy keeps the hour asked for at creation.
    assert.equal(redeploy.body.expiresAt, created.body.expiresAt, 'the redeploy keeps the current lease');
    assert.equal(redeploy.body.ttl, created.body.ttl);

    const events = await h.api('GET', `/api/v1/environments/${name}/events`);
    const types = events.body.events.map((e: { type: string }) => e.type);
    for (const t of ['requested', 'provisioning', 'pulled', 'ready', 'redeploy']) assert.ok(types.includes(t), `timeline has ${t}: ${types}`);
    assert.ok(types.includes('cloned') || types.includes('seeded'), `timeline says how the data came: ${types}`);

    const deleted = await h.api('DELETE', `/api/v1/environments/${name}?wait=60`);
    assert.equal(deleted.status, 202);
    assert.equal(deleted.body.status, 'destroyed');
    assert.equal(deleted.body.destroyReason, 'destroyed');
    assert.equal(deleted.body.destroyedBy, 'test');
    assert.deepEqual(await labeledObjects(h.docker, id), { containers: 0, networks: 0, volumes: 0 });

    // DELETE is idempotent, and the record still says why it went.
    const twice = await h.api('DELETE', `/api/v1/environments/${name}`);
    assert.equal(twice.status, 202);
    assert.equal(twice.body.status, 'destroyed');
    const shown = await h.api('GET', `/api/v1/environments/${name}`);
    assert.equal(shown.body.destroyReason, 'destroyed');
    assert.equal(shown.body.url, null);
  });

  it('when an image tag does not exist in the registry, then the environment fails with the reason and no container is made', async () => {
    const name = uniqueName('shop-missing');
    const res = await h.api('PUT', `/api/v1/environments/${name}?wait=60`, { template: 'shop', tag: 'no-such-tag' });
    assert.equal(res.body.status, 'failed');
    assert.equal(res.body.failure.code, 'IMAGE_NOT_FOUND');
    assert.match(res.body.failure.message, /mayfly\/shop:no-such-tag/);
    const objects = await labeledObjects(h.docker, res.body.id);
    assert.equal(objects.containers, 0);

    // A failed environment is retried by PUT with a good tag, under the same id.
    const retry = await h.api('PUT', `/api/v1/environments/${name}?wait=120`, { template: 'shop', tag: 'main' });
    assert.equal(retry.body.id, res.body.id);
    assert.equal(retry.body.status, 'ready', JSON.stringify(retry.body.failure));
    assert.equal((await page(retry.body.urls.web)).tag, 'main');
    const gone = await h.api('DELETE', `/api/v1/environments/${name}?wait=60`);
    assert.equal(gone.body.status, 'destroyed');
  });

  it('when an image is re-pushed under the same tag and the environment is redeployed, then it runs the new image', async () => {
    const reg = h.config.registry;
    const tag = `retag-${Date.now().toString(36)}`;
    const push = async (from: string) => {
      await h.docker.getImage(`${reg}/mayfly/shop:${from}`).tag({ repo: `${reg}/mayfly/shop`, tag });
      const stream = await h.docker.getImage(`${reg}/mayfly/shop:${tag}`).push({ authconfig: { serveraddress: reg } } as object);
      await new Promise<void>((resolve, reject) => h.docker.modem.followProgress(stream, (err: Error | null, out: { error?: string }[]) => (err || out.find((o) => o.error) ? reject(err ?? new Error(out.find((o) => o.error)!.error)) : resolve())));
    };
    try {
      await push('pr-1');
      const name = uniqueName('shop-retag');
      const first = await h.api('PUT', `/api/v1/environments/${name}?wait=120`, { template: 'shop', tag });
      assert.equal(first.body.status, 'ready', JSON.stringify(first.body.failure));
      assert.equal((await page(first.body.urls.web)).tag, 'pr-1');

      // CI pushes new code under the same tag from elsewhere: the registry has it, this host's tag is stale.
      await push('pr-2');
      await h.docker.getImage(`${reg}/mayfly/shop:pr-1`).tag({ repo: `${reg}/mayfly/shop`, tag });
      const { env } = await h.ctx.environments.recordDeploy(TEST_ACTOR, { name, template: 'shop', owner: 'test', images: first.body.images, seed: 'demo', ttlSeconds: 3600 }, { ttlGiven: false, forceRedeploy: true });
      await h.queues.enqueueProvision(env.id, env.generation);
      const second = await h.api('GET', `/api/v1/environments/${name}?wait=120`);
      assert.equal(second.body.status, 'ready', JSON.stringify(second.body.failure));
      assert.equal(second.body.generation, 2);
      assert.notEqual(second.body.digests.web, first.body.digests.web, 'the new digest is recorded');
      assert.equal((await page(second.body.urls.web)).tag, 'pr-2', 'the container runs the re-pushed image');
      await h.api('DELETE', `/api/v1/environments/${name}?wait=60`);
    } finally {
      await h.docker.getImage(`${reg}/mayfly/shop:${tag}`).remove().catch(() => undefined);
    }
  });
});
