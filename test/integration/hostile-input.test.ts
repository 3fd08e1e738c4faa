import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { JOB_NOTIFY, JOB_RECONCILE } from '../../core/queue/jobs.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { CALLBACK_SECRET } from '../helpers/doors.js';

/**
 * Hostile input, field by field (test/integration/api-validation.test.ts has the ordinary
 * mistakes). Every value gets 400 naming its field and creates nothing: no row in PostgreSQL, no
 * job in this harness's BullMQ queues, no Docker object with this harness's instance label. The
 * worker runs, so anything that slipped through would show up as a job or a container.
 */
const HOSTILE: [string, (base: string) => string][] = [
  ['$', (b) => `${b}$`],
  ['${HOME}', (b) => `${b}\${HOME}`],
  ['a double quote', (b) => `${b}"`],
  ['a single quote', (b) => `${b}'`],
  ['#', (b) => `${b}#comment`],
  ['{}', (b) => `${b}{}`],
  ['": "', (b) => `${b}: x`],
  ['a newline followed by YAML', (b) => `${b}\n    privileged: true\n    volumes: ["/var/run/docker.sock:/s"]`],
  ['unicode', (b) => `${b}ünï-😀`],
  ['300 characters', (b) => `${b}${'a'.repeat(300)}`],
];

/** Field -> how to put a value in the body, with a valid base the hostile part is appended to. */
const FIELDS: { field: string; base: string; body: (v: string) => Record<string, unknown> }[] = [
  { field: 'name', base: 'shop-x', body: (v) => ({ template: 'shop', name: v }) },
  { field: 'tag', base: 'pr-1', body: (v) => ({ template: 'shop', tag: v }) },
  { field: 'images.web', base: 'pr-1', body: (v) => ({ template: 'shop', images: { web: v } }) },
  { field: 'seed', base: 'demo', body: (v) => ({ template: 'shop', seed: v }) },
  { field: 'template', base: 'shop', body: (v) => ({ template: v }) },
  { field: 'ttl', base: '1h', body: (v) => ({ template: 'shop', ttl: v }) },
  // A URL may legally hold "$", "#" or "{}" (sent percent-encoded, never rendered): the hostile
  // values here are not URLs, or put whitespace into one.
  { field: 'callbackUrl', base: '', body: (v) => ({ template: 'shop', callbackUrl: v }) },
];

const INVALID_IMAGES = [
  'UPPER/case:tag', 'shop:', ':tag', 'a//b:1', 'shop@sha256:xyz', 'shop:tag:extra', 'http://127.0.0.1:5000/mayfly/shop:main',
  '127.0.0.1:5000/mayfly/shop:main\n', '-bad', 'evil.example/mayfly/shop:main', 'mayfly/shop:main' /* Docker Hub: not an allowed registry */,
];
const MALFORMED_JSON = ['{"template": "shop",', '{template: shop}', "{'template': 'shop'}", 'null', '"shop"', '{"template": "shop"}}', '\u0000'];
const UNKNOWN_FIELDS: Record<string, unknown>[] = [
  { template: 'shop', privileged: true },
  { template: 'shop', services: { web: { privileged: true } } },
  { template: 'shop', Tag: 'pr-1' },
  JSON.parse('{"template": "shop", "__proto__": {"admin": true}}'),
  { template: 'shop', constructor: 'x' },
];

describe('hostile input, field by field: 400 naming the field, nothing created', () => {
  let h: Harness;
  before(async () => { h = await startHarness({ env: { MAYFLY_CALLBACK_SECRET: CALLBACK_SECRET } }); });
  after(async () => { await h.close(); });

  async function nothingCreated(what: string): Promise<void> {
    const { rows } = await h.pool.query('SELECT count(*)::int AS n FROM environments');
    assert.equal(rows[0].n, 0, `${what}: no environment recorded`);
    const provision = await h.queues.provision.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed', 'prioritized', 'waiting-children']);
    const lifecycle = (await h.queues.lifecycle.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed', 'prioritized', 'waiting-children']))
      .filter((j) => j && j.name !== JOB_RECONCILE && j.name !== JOB_NOTIFY);
    assert.deepEqual([...provision, ...lifecycle].filter(Boolean).map((j) => j.name), [], `${what}: no job queued`);
    const filters = { label: [`mayfly.instance=${h.config.instance}`] };
    const [containers, networks, volumes] = await Promise.all([
      h.docker.listContainers({ all: true, filters }), h.docker.listNetworks({ filters }), h.docker.listVolumes({ filters }),
    ]);
    assert.equal(containers.length + networks.length + (volumes.Volumes ?? []).length, 0, `${what}: no Docker object`);
  }

  function refused(res: { status: number; body: any }, field: string, what: string): void {
    assert.equal(res.status, 400, `${what}: ${JSON.stringify(res.body)}`);
    const fields = (res.body.error.details ?? []).map((d: { field: string }) => d.field);
    assert.ok(fields.includes(field), `${what}: details name ${field}, got ${JSON.stringify(fields)}`);
  }

  for (const f of FIELDS) {
    it(`when ${f.field} carries hostile text, then every value is refused naming ${f.field}`, async () => {
      for (const [label, make] of HOSTILE) {
        const value = make(f.base);
        const what = `${f.field} with ${label}`;
        refused(await h.api('POST', '/api/v1/environments', f.body(value)), f.field, `POST ${what}`);
        const put = f.field === 'name'
          ? await h.api('PUT', `/api/v1/environments/${encodeURIComponent(value)}`, { template: 'shop' })
          : await h.api('PUT', '/api/v1/environments/hostile-put', f.body(value));
        refused(put, f.field, `PUT ${what}`);
        await nothingCreated(what);
      }
    });
  }

  it('when a callbackUrl hides a newline, tab or space inside a URL, then 400 (the URL parser would drop them silently)', async () => {
    for (const url of ['http://127.0.0.1:9/cb\nX-Injected: 1', 'http://127.0.0.1:9/c\tb', 'http://127.0.0.1:9/c b', 'http://127.0.0.1:9/cb\u0000']) {
      refused(await h.api('POST', '/api/v1/environments', { template: 'shop', callbackUrl: url }), 'callbackUrl', JSON.stringify(url));
    }
    await nothingCreated('callbackUrl with whitespace');
  });

  it('when an image reference is invalid or from a registry that is not allowed, then 400 names images.<service>', async () => {
    for (const ref of INVALID_IMAGES) {
      refused(await h.api('POST', '/api/v1/environments', { template: 'shop', images: { web: ref } }), 'images.web', JSON.stringify(ref));
      refused(await h.api('POST', '/api/v1/environments', { template: 'shop', images: { db: ref } }), 'images.db', JSON.stringify(ref));
    }
    await nothingCreated('invalid image references');
  });

  it('when the JSON is malformed, then 400 INVALID_JSON naming (body)', async () => {
    for (const text of MALFORMED_JSON) {
      const res = await h.api('POST', '/api/v1/environments', text);
      refused(res, '(body)', JSON.stringify(text));
      assert.equal(res.body.error.code, 'INVALID_JSON', JSON.stringify(text));
    }
    await nothingCreated('malformed JSON');
  });

  it('when the body has unknown fields (including __proto__ and constructor), then 400 names each', async () => {
    for (const body of UNKNOWN_FIELDS) {
      const unknown = Object.keys(body).filter((k) => k !== 'template');
      const res = await h.api('POST', '/api/v1/environments', JSON.stringify(body));
      for (const field of unknown) refused(res, field, JSON.stringify(body));
    }
    await nothingCreated('unknown fields');
  });
});
