import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, TOKEN, type Harness } from '../helpers/harness.js';

/** Bad input gets 400 naming the field, and changes nothing: no row, no job, no container. */
describe('the REST API refuses bad input and changes nothing', () => {
  let h: Harness;
  before(async () => { h = await startHarness({ worker: false }); });
  after(async () => { await h.close(); });

  async function nothingCreated(): Promise<void> {
    const { rows } = await h.pool.query('SELECT count(*)::int AS n FROM environments');
    assert.equal(rows[0].n, 0, 'no environment recorded');
    const counts = await h.queues.provision.getJobCounts();
    assert.equal(Object.values(counts).reduce((a, b) => a + b, 0), 0, 'no job queued');
  }

  const cases: { title: string; path?: string; body: unknown; field: string }[] = [
    { title: 'no template', body: { tag: 'pr-1' }, field: 'template' },
    { title: 'an unknown template', body: { template: 'nope' }, field: 'template' },
    { title: 'a name with upper case', body: { template: 'shop', name: 'Shop' }, field: 'name' },
    { title: 'a name with ${HOME}', body: { template: 'shop', name: '${HOME}' }, field: 'name' },
    { title: 'a name of 300 characters', body: { template: 'shop', name: 'a'.repeat(300) }, field: 'name' },
    { title: 'a tag with a newline and YAML', body: { template: 'shop', tag: 'x\nprivileged: true' }, field: 'tag' },
    { title: 'a tag with a quote', body: { template: 'shop', tag: 'pr-1"' }, field: 'tag' },
    { title: 'a tag with $', body: { template: 'shop', tag: '$TAG' }, field: 'tag' },
    { title: 'a tag with ": "', body: { template: 'shop', tag: 'a: b' }, field: 'tag' },
    { title: 'a tag of 200 characters', body: { template: 'shop', tag: 'a'.repeat(200) }, field: 'tag' },
    { title: 'a unicode tag', body: { template: 'shop', tag: 'prö-1' }, field: 'tag' },
    { title: 'an invalid image reference', body: { template: 'shop', images: { web: 'UPPER/case:tag' } }, field: 'images.web' },
    { title: 'a digest of 63 hex digits', body: { template: 'shop', images: { web: `127.0.0.1:5000/mayfly/shop@sha256:${'a'.repeat(63)}` } }, field: 'images.web' },
    { title: 'a digest of 65 hex digits', body: { template: 'shop', images: { web: `127.0.0.1:5000/mayfly/shop@sha256:${'a'.repeat(65)}` } }, field: 'images.web' },
    { title: 'a digest of 64 upper-case hex digits', body: { template: 'shop', images: { web: `127.0.0.1:5000/mayfly/shop@sha256:${'A'.repeat(64)}` } }, field: 'images.web' },
    { title: 'a sha512 digest', body: { template: 'shop', images: { web: `127.0.0.1:5000/mayfly/shop@sha512:${'a'.repeat(128)}` } }, field: 'images.web' },
    { title: 'an image for an unknown service', body: { template: 'shop', images: { cache: 'main' } }, field: 'images.cache' },
    { title: 'a ttl that is not a duration', body: { template: 'shop', ttl: 'forever' }, field: 'ttl' },
    { title: 'a ttl over the maximum', body: { template: 'shop', ttl: '48h' }, field: 'ttl' },
    { title: 'an unknown seed', body: { template: 'shop', seed: 'prod-dump' }, field: 'seed' },
    { title: 'an unknown field', body: { template: 'shop', privileged: true }, field: 'privileged' },
    { title: 'a body that is an array', body: [1, 2], field: '(body)' },
  ];
  for (const c of cases) {
    it(`when POST has ${c.title}, then 400 names "${c.field}"`, async () => {
      const res = await h.api('POST', '/api/v1/environments', c.body);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'INVALID_REQUEST');
      assert.ok(res.body.error.details.some((d: { field: string }) => d.field === c.field), JSON.stringify(res.body.error));
      await nothingCreated();
    });
  }

  it('when a PUT path name is invalid, then 400 names "name"', async () => {
    const res = await h.api('PUT', '/api/v1/environments/Bad_Name', { template: 'shop' });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.details[0].field, 'name');
    await nothingCreated();
  });

  it('when a PUT pins an image by a malformed digest, then 400 says what a digest must be and nothing is created', async () => {
    const res = await h.api('PUT', '/api/v1/environments/pinned', { template: 'shop', images: { web: `127.0.0.1:5000/mayfly/shop@sha256:${'A'.repeat(64)}` } });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body.error.code, 'INVALID_REQUEST');
    const problem = res.body.error.details.find((d: { field: string }) => d.field === 'images.web');
    assert.ok(problem, JSON.stringify(res.body.error));
    assert.match(problem.message, /must be "sha256:" followed by exactly 64 lower-case hex digits/);
    await nothingCreated();
  });

  it('when the body and the path disagree on the name, then 400', async () => {
    const res = await h.api('PUT', '/api/v1/environments/one', { template: 'shop', name: 'two' });
    assert.equal(res.status, 400);
    await nothingCreated();
  });

  it('when several fields are wrong, then every one is reported at once', async () => {
    const res = await h.api('POST', '/api/v1/environments', { template: 'shop', tag: '-bad', ttl: 'x', seed: 'Nope' });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body.error.details.map((d: { field: string }) => d.field).sort(), ['seed', 'tag', 'ttl']);
  });

  it('when the JSON is malformed, then 400 INVALID_JSON', async () => {
    const res = await h.api('POST', '/api/v1/environments', '{"template": "shop",');
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'INVALID_JSON');
    await nothingCreated();
  });

  it('when the body is over the size limit, then 413', async () => {
    const res = await h.api('POST', '/api/v1/environments', { template: 'shop', padding: 'x'.repeat(100_000) });
    assert.equal(res.status, 413);
    await nothingCreated();
  });

  it('when no token or a wrong token is sent, then 401 and nothing changes', async () => {
    const none = await h.api('POST', '/api/v1/environments', { template: 'shop' }, {});
    assert.equal(none.status, 401);
    assert.equal(none.body.error.code, 'UNAUTHORIZED');
    const wrong = await h.api('POST', '/api/v1/environments', { template: 'shop' }, { Authorization: `Bearer ${TOKEN}x` });
    assert.equal(wrong.status, 401);
    await nothingCreated();
  });

  it('when an environment does not exist, then GET, DELETE and extend answer 404', async () => {
    for (const [method, path] of [['GET', '/api/v1/environments/nothing-here'], ['DELETE', '/api/v1/environments/nothing-here'], ['POST', '/api/v1/environments/nothing-here/extend']] as const) {
      const res = await h.api(method, path, method === 'POST' ? { ttl: '1h' } : undefined);
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.equal(res.body.error.code, 'ENVIRONMENT_NOT_FOUND');
    }
  });

  it('when POST names an environment that exists, then 409 NAME_TAKEN and still one environment', async () => {
    const first = await h.api('POST', '/api/v1/environments', { template: 'shop', name: 'taken' });
    assert.equal(first.status, 202);
    const second = await h.api('POST', '/api/v1/environments', { template: 'shop', name: 'taken' });
    assert.equal(second.status, 409);
    assert.equal(second.body.error.code, 'NAME_TAKEN');
    const { rows } = await h.pool.query(`SELECT count(*)::int AS n FROM environments WHERE name = 'taken'`);
    assert.equal(rows[0].n, 1);
  });

  it('when POST pins an image by a canonical sha256 digest, then 202 and the digest is kept', async () => {
    const image = `127.0.0.1:5000/mayfly/shop@sha256:${'0123456789abcdef'.repeat(4)}`;
    const res = await h.api('POST', '/api/v1/environments', { template: 'shop', name: 'pinned-ok', images: { web: image } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.images.web, image);
  });

  it('when POST has no name, then one is made from the template', async () => {
    const res = await h.api('POST', '/api/v1/environments', { template: 'shop' });
    assert.equal(res.status, 202);
    assert.match(res.body.name, /^shop-[0-9a-f]{6}$/);
    assert.equal(res.body.ttl, '4h');
    assert.equal(res.body.seed, 'demo');
  });

  it('lists templates with their defaults, and answers health and readiness without a token', async () => {
    const t = await h.api('GET', '/api/v1/templates');
    assert.equal(t.status, 200);
    const shop = t.body.templates.find((x: { name: string }) => x.name === 'shop');
    assert.deepEqual(shop.ttl, { default: '4h', max: '1d' });
    assert.equal(shop.entryService, 'web');
    assert.equal((await h.api('GET', '/healthz', undefined, {})).status, 200);
    const ready = await h.api('GET', '/readyz', undefined, {});
    assert.equal(ready.status, 200);
    assert.equal(ready.body.checks.postgres.ok, true);
    assert.equal(ready.body.checks.redis.ok, true);
    assert.deepEqual(ready.body.detail.redis, { maxmemoryPolicy: 'noeviction' }, 'the shared Redis keeps its jobs under memory pressure');
  });

  it('when a list is filtered by status, then only those come back; an unknown status is 400', async () => {
    const queued = await h.api('GET', '/api/v1/environments?status=queued');
    assert.equal(queued.status, 200);
    assert.ok(queued.body.environments.every((e: { status: string }) => e.status === 'queued'));
    const bad = await h.api('GET', '/api/v1/environments?status=hibernating');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details[0].field, 'status');
  });
});
