import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NextFunction, Request, Response } from 'express';
import { startHarness, TOKEN, type Harness } from '../helpers/harness.js';
import { requireAdmin } from '../../api/admin-queues.js';
import { loadConfig } from '../../core/config/config.js';
import { principalFor } from '../../core/domain/principal.js';

const OTHER = 'other-secret-0123456789';

describe('the queue dashboard at /admin/queues', () => {
  let h: Harness;
  // The harness's tokens are "test" and "other"; only "test" is an admin.
  before(async () => { h = await startHarness({ worker: false, env: { MAYFLY_ADMINS: 'test' } }); });
  after(async () => { await h.close(); });

  it('when nobody is signed in, then it answers 401 and shows nothing', async () => {
    for (const path of ['/admin/queues', '/admin/queues/api/queues']) {
      const res = await h.api('GET', path, undefined, {});
      assert.equal(res.status, 401, path);
      assert.equal(res.body.error.code, 'UNAUTHORIZED');
    }
    const bad = await h.api('GET', '/admin/queues', undefined, { Authorization: 'Bearer not-a-token-at-all' });
    assert.equal(bad.status, 401);
  });

  it('when a non-admin asks, then it answers 403 naming who is not an admin, for the page and its API', async () => {
    for (const path of ['/admin/queues', '/admin/queues/api/queues']) {
      const res = await h.api('GET', path, undefined, { Authorization: `Bearer ${OTHER}` });
      assert.equal(res.status, 403, path);
      assert.equal(res.body.error.code, 'FORBIDDEN');
      assert.match(res.body.error.message, /"other" is not an admin/);
    }
  });

  it('when an admin asks, then it serves the dashboard and the provision and lifecycle queues', async () => {
    const page = await h.api('GET', '/admin/queues', undefined, { Authorization: `Bearer ${TOKEN}` });
    assert.equal(page.status, 200);
    assert.match(String(page.body), /<html/i);
    const api = await h.api('GET', '/admin/queues/api/queues', undefined, { Authorization: `Bearer ${TOKEN}` });
    assert.equal(api.status, 200, JSON.stringify(api.body));
    const names = (api.body.queues as { name: string }[]).map((q) => q.name).sort();
    assert.deepEqual(names, ['lifecycle', 'provision']);
  });

  it('when an earlier middleware (a web session) signed someone in, then the guard decides from that principal without a token', () => {
    const config = loadConfig({ MAYFLY_ADMINS: 'alice' });
    const guard = requireAdmin({ config });
    const run = (name: string) => {
      const req = { principal: principalFor(config.teams, name, 'user'), get: () => undefined } as unknown as Request;
      let passed = false;
      try { guard(req, {} as Response, (() => { passed = true; }) as NextFunction); } catch (err) { return (err as { status: number }).status; }
      return passed ? 200 : 0;
    };
    assert.equal(run('alice'), 200);
    assert.equal(run('bob'), 403);
  });
});
