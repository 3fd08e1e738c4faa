import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { API_TYPES_FILE, generateApiTypes } from '../../scripts/api-types.js';
import { startHarness, TOKEN, type Harness } from '../helpers/harness.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface LintReport { totals: { errors: number; warnings: number; ignored: number }; problems: { ruleId: string; message: string; location?: { pointer?: string }[] }[] }

/** Redocly's own linter (@redocly/cli, as installed) over a document, with its recommended rules. */
async function redoclyLint(document: object): Promise<LintReport> {
  const dir = await mkdtemp(path.join(tmpdir(), 'mayfly-openapi-'));
  try {
    const file = path.join(dir, 'openapi.json');
    await writeFile(file, JSON.stringify(document, null, 2));
    const bin = path.join(ROOT, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js');
    // Exit 1 when there are errors; the JSON report on stdout says what they are either way.
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [bin, 'lint', '--extends', 'recommended', '--format', 'json', file], {
        cwd: dir, timeout: 120_000, maxBuffer: 16 * 1024 * 1024,
        env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
      }, (err, out, stderr) => {
        if (err && !String(out).trim().startsWith('{')) reject(new Error(`redocly lint failed: ${err.message}\n${stderr}`));
        else resolve(String(out));
      });
    });
    return JSON.parse(stdout) as LintReport;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const show = (r: LintReport) => r.problems.map((p) => `${p.ruleId}: ${p.message} at ${p.location?.[0]?.pointer ?? '?'}`).join('\n');

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

  it('when the served document is given to Redocly\'s linter with its recommended rules, then it reports no error and no warning', async () => {
    const report = await redoclyLint(doc);
    assert.deepEqual(report.totals, { errors: 0, warnings: 0, ignored: 0 }, show(report));
    // The same linter does find what the recommended rules forbid (it really ran them on a document).
    const broken = structuredClone(doc);
    delete broken.paths['/templates'].get.operationId;
    delete broken.info.license;
    const found = await redoclyLint(broken);
    assert.deepEqual(found.problems.map((p) => p.ruleId).sort(), ['info-license', 'operation-operationId'], show(found));
  });

  it('when openapi-typescript generates the CLI\'s types from the served document, then they are the committed cli/api-types.ts', async () => {
    const generated = await generateApiTypes(doc);
    const committed = await readFile(API_TYPES_FILE, 'utf8');
    assert.ok(generated.includes('"/environments/{name}"') && generated.includes('deployEnvironment'), 'the generator ran on this document');
    assert.ok(committed === generated, 'cli/api-types.ts is what openapi-typescript makes from the served document: run npm run api-types and commit it');
  });

  it('when each described operation is called without a token, or with a body that is not JSON, then it answers the 401 and 400 it describes', async () => {
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        if (method === 'parameters' || (op.security && op.security.length === 0)) continue;
        const url = `/api/v1${path.replace(/\{\w+\}/g, 'no-such-env')}`;
        for (const code of ['400', '401', '413', '429']) assert.ok(op.responses[code], `${method} ${path} describes ${code}`);
        const anonymous = await h.api(method.toUpperCase(), url, undefined, {});
        assert.equal(anonymous.status, 401, `${method} ${path} without a token`);
        if (method === 'get') continue; // fetch sends no body with GET
        const garbled = await h.api(method.toUpperCase(), url, '{"template": ', { authorization: `Bearer ${TOKEN}` });
        assert.equal(garbled.status, 400, `${method} ${path} with a body that is not JSON`);
        assert.equal(garbled.body.error.code, 'INVALID_JSON');
      }
    }
  });

  it('when the document is asked for as something other than JSON, then the answer is 406 as it says', async () => {
    const res = await h.api('GET', '/api/v1/openapi.json', undefined, { accept: 'text/html' });
    assert.equal(res.status, 406);
    assert.equal(res.body.error.code, 'NOT_ACCEPTABLE');
    assert.ok(doc.paths['/openapi.json'].get.responses[406]);
    assert.equal((await h.api('GET', '/api/v1/openapi.json', undefined, { accept: 'application/*' })).status, 200);
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
