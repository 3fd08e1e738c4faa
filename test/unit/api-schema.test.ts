import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openApiDocument } from '../../core/api/openapi.js';
import { OPERATIONS, findOperation } from '../../core/api/routes.js';
import { ExtendRequest, SnapshotRequest, TailQuery, WaitQuery } from '../../core/api/schemas.js';
import { paramProblem, parseBody, unknownFields } from '../../core/api/validate.js';
import { InputError } from '../../core/domain/errors.js';
import { ResponseCheck } from '../helpers/response-check.js';

const ENV = {
  id: '0b7c3f3e-7f43-4a59-9d1e-2b8f4f0f6a11', name: 'shop-1', template: 'shop', status: 'ready', owner: 'alice', team: 'qa', door: 'api',
  images: { web: 'reg/shop:1' }, digests: {}, seed: 'demo', ttl: '4h', expiresAt: '2026-01-01T00:00:00.000Z', expiresInSeconds: 10, generation: 1,
  url: 'http://shop-1.localhost:8080', urls: { web: 'http://shop-1.localhost:8080' },
  database: { seed: 'demo', snapshot: null, strategy: null, seededAt: null }, queuePosition: null, estimatedStartSeconds: null, queueReason: null, node: null,
  failure: null, destroyReason: null, destroyedBy: null, access: 'signed-in', createdAt: '2026-01-01T00:00:00.000Z', readyAt: null, destroyedAt: null, forkOf: null,
  links: { self: 'http://x/api/v1/environments/shop-1', events: 'http://x/api/v1/environments/shop-1/events' },
};
const JSON_TYPE = 'application/json; charset=utf-8';

describe('the answer check (test/helpers/response-check.ts)', () => {
  it('when an answer is what its route declares, then it passes; when it is not, then it says what is wrong', () => {
    const check = new ResponseCheck();
    const ok = (status: number, body: unknown, url = '/api/v1/environments/shop-1', method = 'GET', type = JSON_TYPE) =>
      check.problem(method, url, status, type, JSON.stringify(body));
    assert.equal(ok(200, ENV), undefined);
    assert.equal(ok(200, ENV, '/api/v1/environments/shop-1?wait=5'), undefined, 'the query is not part of the path');
    assert.match(ok(200, { ...ENV, secret: 'x' })!, /secret/, 'a field the schema does not declare');
    const { team: _, ...withoutTeam } = ENV;
    assert.match(ok(200, withoutTeam)!, /^team: /, 'a declared field missing');
    assert.match(ok(200, { ...ENV, status: 'hibernating' })!, /^status: /, 'a value outside its enum');
    assert.match(ok(200, { ...ENV, destroyReason: 'destroyed from the web page' })!, /^destroyReason: /);
    assert.match(ok(418, { error: { code: 'X', message: 'y' } })!, /status 418 is not declared for getEnvironment/);
    assert.equal(ok(404, { error: { code: 'ENVIRONMENT_NOT_FOUND', message: 'no environment' } }), undefined);
    assert.match(ok(404, { code: 'ENVIRONMENT_NOT_FOUND' })!, /error: /, 'an error outside the Error shape');
    assert.match(ok(200, ENV, '/api/v1/environments/shop-1', 'GET', 'text/html')!, /content type "text\/html" is not declared/);
    assert.equal(check.problem('GET', '/api/v1/environments', 304, undefined, undefined), undefined);
    assert.equal(check.problem('GET', '/api/v1/environments/shop-1/events', 200, 'text/event-stream', undefined), undefined);
    assert.equal(ok(200, { anything: true }, '/healthz'), undefined, 'outside REST v1: not checked');
    assert.equal(ok(404, { anything: true }, '/api/v1/nowhere'), undefined, 'a route the document does not describe: not checked');
  });

  it('when answers are recorded, then a mismatch fails assertNone with the route and status', () => {
    const check = new ResponseCheck();
    check.record('GET', '/api/v1/templates', 200, JSON_TYPE, JSON.stringify({ templates: [] }));
    check.assertNone();
    check.record('GET', '/api/v1/templates', 200, JSON_TYPE, JSON.stringify({ templates: [{ name: 'shop' }] }));
    assert.equal(check.checked, 2);
    assert.throws(() => check.assertNone(), /1 answer\(s\) of REST v1 do not match[\s\S]*GET \/api\/v1\/templates -> 200: templates\.0\./);
  });
});

describe('the route table and the document made from it', () => {
  const doc = openApiDocument();

  it('when the document is made, then every operation of the table is in it, with a $ref for each named schema', () => {
    for (const op of OPERATIONS) {
      const described = (doc.paths as Record<string, Record<string, { operationId: string }>>)[op.path]?.[op.method];
      assert.equal(described?.operationId, op.operationId, `${op.method} ${op.path}`);
    }
    const schemas = doc.components.schemas as Record<string, { properties?: Record<string, unknown> }>;
    assert.deepEqual(Object.keys(schemas.Environment!.properties!).slice(0, 3), ['id', 'name', 'template']);
    assert.deepEqual(Object.keys(schemas.EnvironmentRequest!.properties!), ['template', 'name', 'tag', 'images', 'seed', 'ttl', 'callbackUrl', 'access']);
    const text = JSON.stringify(doc);
    for (const [, id] of text.matchAll(/"#\/components\/schemas\/(\w+)"/g)) assert.ok(schemas[id!], `${id} is a component`);
  });

  it('when a path is looked up, then the operation and its parameters are found; an undescribed path is not', () => {
    assert.equal(findOperation('POST', '/environments/shop-1/extend')?.op.operationId, 'extendEnvironment');
    assert.deepEqual(findOperation('GET', '/environments/shop%2D1')?.params, { name: 'shop-1' });
    assert.equal(findOperation('PATCH', '/environments/shop-1'), undefined);
    assert.equal(findOperation('GET', '/environments/shop-1/nothing'), undefined);
  });

  it('when a body has unknown fields, then the allowed ones are those the schema declares', () => {
    assert.deepEqual(unknownFields(ExtendRequest, { ttl: '1h', until: 'x' }), [{ field: 'until', message: 'unknown field; allowed: ttl' }]);
    assert.deepEqual(unknownFields(ExtendRequest, { ttl: 'not checked here' }), []);
    assert.deepEqual(unknownFields(ExtendRequest, [1]), [{ field: '(body)', message: 'must be a JSON object' }]);
    const err = (() => { try { parseBody(SnapshotRequest, { name: 'Bad', x: 1 }); } catch (e) { return e; } })();
    assert.ok(err instanceof InputError);
    assert.equal(err.message, 'invalid request: x, name');
    assert.deepEqual(err.problems, [
      { field: 'x', message: 'unknown field; allowed: name' },
      { field: 'name', message: 'is required: the new dataset name, 1-63 lowercase letters, digits and "-"' },
    ]);
  });

  it('when query parameters are wrong, then each gets the message it always had', () => {
    assert.deepEqual(paramProblem(WaitQuery, 'wait', '901'), { field: 'wait', message: 'must be a number of seconds (or a duration) up to 900' });
    assert.equal(paramProblem(WaitQuery, 'wait', '15m'), undefined);
    for (const bad of ['-1', '1.5', 'abc', '100000']) assert.deepEqual(paramProblem(TailQuery, 'tail', bad)?.field, 'tail', bad);
    assert.equal(paramProblem(TailQuery, 'tail', '100'), undefined);
  });
});

describe('one destroy-reason enum everywhere', () => {
  it('when the document is made, then an environment\'s destroyReason is exactly DESTROY_REASONS (or null), the list the application layer writes', async () => {
    const { DESTROY_REASONS } = await import('../../core/domain/environment.js');
    const doc = openApiDocument() as { components: { schemas: Record<string, any> } };
    const prop = doc.components.schemas.Environment.properties.destroyReason;
    const values = new Set<unknown>((prop.anyOf ?? [prop]).flatMap((p: any) => p.enum ?? (p.type === 'null' ? [null] : [])));
    assert.deepEqual([...values].sort(), [...DESTROY_REASONS, null].sort());
    assert.deepEqual([...DESTROY_REASONS].sort(), ['destroyed', 'expired', 'merge-request-closed', 'merge-request-merged', 'parent-destroyed', 'pull-request-closed']);
  });
});
