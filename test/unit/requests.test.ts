import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { projectRoot } from '../../core/config/config.js';
import { InputError } from '../../core/domain/errors.js';
import { validateEnvironmentRequest } from '../../core/doors/requests.js';
import { TemplateCatalog } from '../../core/catalog/templates.js';

describe('environment requests', () => {
  let catalog: TemplateCatalog;
  before(async () => { catalog = await TemplateCatalog.load(path.join(projectRoot(), 'templates'), 'reg:5000', { memoryBytes: 1 << 29, nanoCpus: 1e9, pids: 256 }); });

  it('fills in the template defaults', () => {
    const v = validateEnvironmentRequest({ template: 'shop' }, catalog);
    assert.deepEqual(v.images, { web: 'reg:5000/mayfly/shop:main', db: 'reg:5000/mayfly/postgres:15' });
    assert.equal(v.seed, 'demo');
    assert.equal(v.ttlSeconds, 4 * 3600);
    assert.equal(v.ttlGiven, false);
  });

  it('applies one tag to taggable images, and per-service tags or references on top', () => {
    assert.equal(validateEnvironmentRequest({ template: 'shop', tag: 'pr-7' }, catalog).images.web, 'reg:5000/mayfly/shop:pr-7');
    const v = validateEnvironmentRequest({ template: 'shop', tag: 'pr-7', images: { web: 'pr-8', db: 'reg:5000/other/pg:16' } }, catalog);
    assert.deepEqual(v.images, { web: 'reg:5000/mayfly/shop:pr-8', db: 'reg:5000/other/pg:16' });
  });

  it('when an image reference names a registry that is not allowed, then images.<service> is refused at once', () => {
    const err = (() => { try { validateEnvironmentRequest({ template: 'shop', images: { db: 'other.io/pg:16', web: 'shop:1' } }, catalog); } catch (e) { return e; } })();
    assert.ok(err instanceof InputError);
    assert.deepEqual(err.problems.map((p) => p.field).sort(), ['images.db', 'images.web']);
    assert.match(err.problems[0]!.message, /registry "(other\.io|docker\.io)" is not allowed/);
  });

  it('reports every problem, each with its field', () => {
    const err = (() => { try { validateEnvironmentRequest({ template: 'shop', tag: 'a b', ttl: '99h', seed: 'x', extra: 1, images: { web: 'Bad/x:1' } }, catalog); } catch (e) { return e; } })();
    assert.ok(err instanceof InputError);
    assert.deepEqual(err.problems.map((p) => p.field).sort(), ['extra', 'images.web', 'seed', 'tag', 'ttl']);
  });

  it('takes the name from the path for PUT', () => {
    assert.equal(validateEnvironmentRequest({ template: 'shop' }, catalog, 'shop-pr-1').name, 'shop-pr-1');
    assert.throws(() => validateEnvironmentRequest({ template: 'shop', name: 'b' }, catalog, 'a'), InputError);
  });
});
