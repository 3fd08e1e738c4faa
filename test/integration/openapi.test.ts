import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../helpers/harness.js';

interface Layer {
  rawPath?: unknown;
  route?: { path: unknown; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
}

/** Every method + path the Express app serves, from its router stack (mount points joined). */
function servedRoutes(stack: Layer[], prefix = ''): string[] {
  const out: string[] = [];
  for (const layer of stack) {
    if (layer.route) {
      const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
      for (const p of paths) {
        assert.equal(typeof p, 'string', `route paths are strings (found ${String(p)} under ${prefix})`);
        for (const [method, on] of Object.entries(layer.route.methods)) if (on && method !== '_all') out.push(`${method.toUpperCase()} ${prefix}${p === '/' && prefix ? '' : p}`);
      }
    } else if (layer.handle.stack) {
      const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      out.push(...servedRoutes(layer.handle.stack, prefix + mount));
    }
  }
  return out;
}

describe('the OpenAPI description of v1', () => {
  let h: Harness;
  let doc: any;
  before(async () => {
    h = await startHarness({ worker: false });
    const res = await h.api('GET', '/api/v1/openapi.json', undefined, {});
    assert.equal(res.status, 200, 'served without a token');
    doc = res.body;
  });
  after(async () => { await h.close(); });

  it('when the document is fetched, then it is OpenAPI 3.1 with the bearer scheme and every operation has responses', () => {
    assert.equal(doc.openapi, '3.1.0');
    assert.deepEqual(doc.servers, [{ url: '/api/v1' }]);
    assert.equal(doc.components.securitySchemes.bearer.scheme, 'bearer');
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        if (method === 'parameters') continue;
        assert.ok(Object.keys(op.responses ?? {}).length, `${method} ${path} has responses`);
        for (const param of path.match(/\{\w+\}/g) ?? []) {
          const declared = [...(item.parameters ?? []), ...(op.parameters ?? [])].some((p: any) => p.in === 'path' && `{${p.name}}` === param);
          assert.ok(declared, `${method} ${path} declares ${param}`);
        }
      }
    }
    const events = doc.paths['/environments/{name}/events'].get.responses[200].content;
    assert.ok(events['text/event-stream'] && events['application/json'], 'events as JSON and as server-sent events');
  });

  it('when the app\'s router stack is walked, then every route under /api/v1 is described and every described path and method is served', () => {
    const served = servedRoutes((h.app as unknown as { router: { stack: Layer[] } }).router.stack)
      .filter((r) => r.split(' ')[1]!.startsWith('/api/v1/'))
      .map((r) => { const [method, path] = r.split(' '); return `${method} ${path!.slice('/api/v1'.length).replace(/:(\w+)/g, '{$1}')}`; });
    assert.ok(served.length >= 10, `found the v1 routes: ${served.join(', ')}`);
    const described = Object.entries<any>(doc.paths).flatMap(([path, item]) =>
      Object.keys(item).filter((m) => m !== 'parameters').map((m) => `${m.toUpperCase()} ${path}`));
    const undescribed = served.filter((r) => !described.includes(r));
    assert.deepEqual(undescribed, [], 'served but not in the OpenAPI document');
    const unserved = described.filter((r) => !served.includes(r));
    assert.deepEqual(unserved, [], 'described but not served');
  });
});
