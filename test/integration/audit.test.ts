/**
 * The audit trail: every action of the application layer is recorded with who, what, which
 * environment, which door and whether it was allowed; admins read it through GET /api/v1/audit
 * (with filters), others are refused, and bad filters get 400 naming the field.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AUTH, startHarness, uniqueName, type Harness } from '../helpers/harness.js';
import { TINY_TEMPLATES_DIR } from '../helpers/tiny.js';

const ROOT = { Authorization: 'Bearer root-secret-0123456789' };
const OTHER = { Authorization: 'Bearer other-secret-0123456789' };

describe('the audit trail', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ worker: false, env: {
      MAYFLY_TEMPLATES_DIR: TINY_TEMPLATES_DIR,
      MAYFLY_API_TOKENS: 'test:test-secret-0123456789,other:other-secret-0123456789,root:root-secret-0123456789',
      MAYFLY_TEAMS: 'qa=test;platform=other', MAYFLY_ADMINS: 'root',
    } });
  });
  after(async () => { await h.close(); });

  it('when environments are created, extended, refused and destroyed through REST and the CLI header, then an admin reads each action with its door and outcome', async () => {
    const name = uniqueName('audited');
    assert.equal((await h.api('PUT', `/api/v1/environments/${name}`, { template: 'tiny' })).status, 202);
    assert.equal((await h.api('POST', `/api/v1/environments/${name}/extend`, { ttl: '2h' }, { ...AUTH, 'X-Mayfly-Client': 'cli' })).status, 200);
    const refused = await h.api('DELETE', `/api/v1/environments/${name}`, undefined, OTHER);
    assert.equal(refused.status, 403);
    assert.equal((await h.api('DELETE', `/api/v1/environments/${name}`)).status, 202);

    const res = await h.api('GET', `/api/v1/audit?environment=${name}`, undefined, ROOT);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const rows = [...res.body.entries].reverse().map((e: any) => `${e.actor} ${e.door} ${e.action} ${e.outcome}`);
    assert.deepEqual(rows, [
      'test api environment.create allowed',
      'test cli environment.extend allowed',
      'other api environment.destroy denied',
      'test api environment.destroy allowed',
    ]);
    const denied = res.body.entries.find((e: any) => e.outcome === 'denied');
    assert.equal(denied.team, 'platform');
    assert.match(denied.details.reason, /belongs to team "qa"/);
    assert.equal(res.body.entries.every((e: any) => e.environmentId && e.environment === name), true);

    // Filters: by actor and door, by time.
    const byOther = await h.api('GET', '/api/v1/audit?actor=other', undefined, ROOT);
    assert.deepEqual(byOther.body.entries.map((e: any) => e.action), ['environment.destroy']);
    const byCli = await h.api('GET', '/api/v1/audit?door=cli', undefined, ROOT);
    assert.deepEqual(byCli.body.entries.map((e: any) => e.action), ['environment.extend']);
    const future = await h.api('GET', `/api/v1/audit?since=${new Date(Date.now() + 3_600_000).toISOString()}`, undefined, ROOT);
    assert.deepEqual(future.body.entries, []);
  });

  it('when someone who is not an admin asks for the trail, then 403, and the refusal names the rule', async () => {
    for (const headers of [AUTH, OTHER]) {
      const res = await h.api('GET', '/api/v1/audit', undefined, headers);
      assert.equal(res.status, 403);
      assert.equal(res.body.error.code, 'FORBIDDEN');
      assert.match(res.body.error.message, /admins only/);
    }
    assert.equal((await h.api('GET', '/api/v1/audit', undefined, {})).status, 401);
  });

  it('when a filter is malformed, then 400 names each field', async () => {
    const res = await h.api('GET', '/api/v1/audit?door=fax&limit=0&since=yesterday&colour=red&environment=Not_A_Name', undefined, ROOT);
    assert.equal(res.status, 400);
    assert.deepEqual(res.body.error.details.map((d: any) => d.field).sort(), ['colour', 'door', 'environment', 'limit', 'since']);
  });
});
