import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { projectRoot } from '../../core/config/config.js';
import { StackError } from '../../core/domain/errors.js';
import { parseTemplateMetadata, TemplateCatalog, yamlQuote } from '../../core/catalog/templates.js';

const limits = { memoryBytes: 512 * 1024 * 1024, nanoCpus: 1e9, pids: 256 };
const templatesDir = path.join(projectRoot(), 'templates');
const env = { id: '11111111-2222-3333-4444-555555555555', name: 'shop-pr-1', project: 'shop-pr-1-11111111' };

describe('templates', () => {
  it('loads the shop template with its metadata, the registry filled in', async () => {
    const catalog = await TemplateCatalog.load(templatesDir, 'registry.test:5000', limits);
    const shop = catalog.get('shop');
    assert.equal(shop.entryService, 'web');
    assert.equal(shop.images.web!.image, 'registry.test:5000/mayfly/shop:main');
    assert.equal(shop.images.db!.taggable, false);
    assert.deepEqual(shop.seeds, { default: 'demo', allowed: ['demo'] });
    assert.deepEqual(shop.ttl, { defaultSeconds: 4 * 3600, maxSeconds: 24 * 3600 });
  });

  it('renders the shop stack: web after a healthy db, limits on both, one published port', async () => {
    const catalog = await TemplateCatalog.load(templatesDir, 'registry.test:5000', limits);
    const stack = catalog.render('shop', { env, images: catalog.resolveImages('shop', 'pr-1', {}) });
    assert.deepEqual(stack.services.map((s) => s.name), ['db', 'web']);
    const [db, web] = stack.services as [typeof stack.services[0], typeof stack.services[0]];
    assert.equal(web.image, 'registry.test:5000/mayfly/shop:pr-1');
    assert.equal(db.image, 'registry.test:5000/mayfly/postgres:15', 'tag applies only to taggable images');
    assert.deepEqual(web.dependsOn, [{ service: 'db', condition: 'service_healthy' }]);
    assert.equal(web.environment.MAYFLY_ENVIRONMENT, 'shop-pr-1');
    assert.deepEqual(web.ports, [{ container: 3000, protocol: 'tcp' }]);
    for (const s of stack.services) assert.ok(s.limits.memoryBytes < limits.memoryBytes && s.healthcheck, `${s.name} declares limits and a healthcheck`);
  });

  it('keeps a hostile environment name verbatim inside its scalar', async () => {
    const catalog = await TemplateCatalog.load(templatesDir, 'r:5000', limits);
    for (const hostile of ['x\nprivileged: true', 'a: b', '"quoted"', "it's", '${HOME}', '$(id)', '# comment', '{}', '[1]', '&anchor', '*alias', '!!binary', 'ünïcode', 'x'.repeat(300), '\\', '\u2028']) {
      const stack = catalog.render('shop', { env: { ...env, name: hostile }, images: catalog.resolveImages('shop', undefined, {}) });
      const web = stack.services.find((s) => s.name === 'web')!;
      assert.equal(web.environment.MAYFLY_ENVIRONMENT, hostile);
      assert.equal(Object.keys(web).includes('privileged'), false);
    }
  });

  it('refuses a hostile image that reaches the renderer, naming the field', async () => {
    const catalog = await TemplateCatalog.load(templatesDir, 'r:5000', limits);
    assert.throws(
      () => catalog.render('shop', { env, images: { web: 'x\nprivileged: true', db: 'r/pg:15' } }),
      (err: unknown) => err instanceof StackError && err.message.startsWith('services.web.image'),
    );
  });

  it('quotes as YAML reads it back', () => {
    assert.equal(yamlQuote('a"b\n'), '"a\\"b\\n"');
  });

  it('refuses metadata that does not hold together', () => {
    assert.throws(() => parseTemplateMetadata('t', 'images: {web: {image: "a:1"}}\nentryService: api', '', 'r'), /entryService/);
    assert.throws(() => parseTemplateMetadata('t', 'images: {web: {image: "NOT OK"}}\nentryService: web', '', 'r'), /images.web.image/);
    assert.throws(() => parseTemplateMetadata('t', 'images: {web: {image: "a:1"}}\nentryService: web\nttl: {default: 2d, max: 1d}', '', 'r'), /ttl.default/);
  });

  it('refuses a template that uses a value it was not given (strict rendering)', async () => {
    const catalog = await TemplateCatalog.load(templatesDir, 'r:5000', limits);
    assert.throws(() => catalog.render('shop', { env, images: { db: 'r/pg:15' } as Record<string, string> }), /failed to render/);
  });
});
