import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import pg from 'pg';
import { startHarness, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';
import { readEvents } from '../helpers/web.js';

const ALICE = 'alice-secret-0123456789';
const BOB = 'bob-secret-0123456789';
const ROOT = 'root-secret-0123456789';
const as = (secret: string) => ({ Authorization: `Bearer ${secret}` });
/**
 * A conditional GET through the harness's server with node:http: fetch would add "Cache-Control:
 * no-cache" to it (as the Fetch standard says), and the server must then answer in full.
 */
function conditionalGet(url: string, etag: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(`${h.baseUrl}${url}`, { headers: { ...as(ALICE), 'if-none-match': etag } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    }).on('error', reject);
  });
}
let h: Harness;
const SHARED_ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://mayfly:mayfly@127.0.0.1:5432/mayfly';

/**
 * Every answer of REST v1 matches the schema core/api/routes.ts declares for its route and status
 * (the harness checks each one as it is sent: test/helpers/response-check.ts). This file drives
 * the main routes through their successes and their refusals, against real engines, and asserts
 * that every one was checked and none broke its declaration.
 */
describe('every REST v1 answer matches its declared schema', () => {
  const name = uniqueName('shape');
  before(async () => {
    h = await startHarness({
      env: {
        MAYFLY_API_TOKENS: `alice:${ALICE},bob:${BOB},root:${ROOT}`,
        MAYFLY_ADMINS: 'root',
        MAYFLY_TEAMS: 'qa=alice;platform=bob',
        // One live environment per owner: a second one waits in line (queue fields), or is refused with ?queue=false.
        MAYFLY_MAX_ENVIRONMENTS_PER_OWNER: '1',
      },
    });
  });
  after(async () => { await h.close(); });

  const api = (method: string, path: string, body?: unknown, secret = ALICE, headers: Record<string, string> = {}) =>
    h.api(method, `/api/v1${path}`, body, { ...as(secret), ...headers });
  const settled = async (env: string, status: string) => waitUntil(`${env} to be ${status}`, 300_000, async () => {
    const res = await api('GET', `/environments/${env}?wait=10`);
    return res.body.status === status ? res.body : res.body.status === 'failed' ? assert.fail(`${env} failed: ${JSON.stringify(res.body.failure)}`) : undefined;
  });

  it('when the document, templates and seeds are read, then their answers match', async () => {
    assert.equal((await h.api('GET', '/api/v1/openapi.json', undefined, {})).status, 200);
    assert.equal((await h.api('GET', '/api/v1/openapi.json', undefined, { accept: 'text/html' })).status, 406);
    assert.equal((await api('GET', '/templates')).status, 200);
    assert.equal((await api('GET', '/seeds')).status, 200);
  });

  it('when an environment is created, redeployed unchanged, listed, read and followed, then every answer matches', async () => {
    const created = await api('PUT', `/environments/${name}`, { template: 'shop', ttl: '1h' });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const ready = await settled(name, 'ready');
    assert.ok(ready.url && ready.database, 'a ready environment shows its URL and database');
    const again = await api('PUT', `/environments/${name}`, { template: 'shop' });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal(again.body.action, 'unchanged');
    // The worker may still write to the row (a change makes a new ETag): ask until the list holds still.
    await waitUntil('a 304 for an unchanged list', 30_000, async () => {
      const list = await api('GET', '/environments');
      assert.equal(list.status, 200);
      return (await conditionalGet('/api/v1/environments', list.headers.get('etag')!)) === 304;
    });
    assert.equal((await api('GET', '/environments?status=ready,queued&all=true')).status, 200);
    const events = await api('GET', `/environments/${name}/events`);
    assert.equal(events.status, 200);
    assert.ok(events.body.events.length >= 2);
    const stream = await readEvents(`${h.baseUrl}/api/v1/environments/${name}/events`, as(ALICE), (m) => m.length > 0, 10_000);
    assert.equal(stream.status, 200);
    assert.ok(stream.messages.length > 0);
    const logs = await api('GET', `/environments/${name}/logs?tail=5`);
    assert.equal(logs.status, 200);
  });

  it('when the owner is at their limit, then ?queue=false is refused (429) and a second one waits in line (with the queue fields)', async () => {
    const refused = await api('POST', '/environments?queue=false', { template: 'shop', name: `${name}-now` });
    assert.equal(refused.status, 429, JSON.stringify(refused.body));
    assert.equal(refused.body.error.code, 'CAPACITY_EXCEEDED');
    const waiting = await api('POST', '/environments', { template: 'shop', name: `${name}-later` });
    assert.equal(waiting.status, 202, JSON.stringify(waiting.body));
    const shown = await api('GET', `/environments/${name}-later`);
    assert.equal(shown.body.status, 'queued');
    assert.equal(typeof shown.body.queuePosition, 'number');
    assert.equal((await api('DELETE', `/environments/${name}-later`)).status, 202);
  });

  it('when the lease is extended and the database reset, then every answer matches', async () => {
    const extended = await api('POST', `/environments/${name}/extend`, { ttl: '2h' });
    assert.equal(extended.status, 200, JSON.stringify(extended.body));
    const reset = await api('POST', `/environments/${name}/reset-db`);
    assert.equal(reset.status, 202, JSON.stringify(reset.body));
    await settled(name, 'ready');
  });

  it('when a dataset is saved from the environment and refreshed, then every answer matches', async () => {
    const saved = await api('POST', `/environments/${name}/snapshots`, { name: `${name}-data` });
    // 409 SNAPSHOTS_UNSUPPORTED on a host without a clone strategy: declared as well.
    assert.ok([202, 409].includes(saved.status), JSON.stringify(saved.body));
    if (saved.status === 202) {
      await waitUntil('the saved dataset to be listed', 120_000, async () => {
        const seeds = await api('GET', '/seeds');
        return seeds.body.datasets.find((d: { name: string; snapshots: { status: string }[] }) => d.name === `${name}-data` && d.snapshots.some((s) => s.status !== 'building'));
      });
    }
    assert.equal((await api('POST', '/seeds/demo/refresh')).status, 202);
  });

  it('when requests are refused (400, 401, 403, 404, 409), then every refusal matches the Error schema', async () => {
    const refusals: [number, () => Promise<{ status: number; body: any }>][] = [
      [400, () => api('POST', '/environments', { template: 'shop', tag: 'a b', extra: 1 })],
      [400, () => api('PUT', '/environments/Bad_Name', { template: 'shop' })],
      [400, () => api('POST', '/environments', '{"template": ')],
      [400, () => api('GET', `/environments/${name}?wait=forever`)],
      [400, () => api('GET', '/environments?status=hibernating')],
      [400, () => api('GET', `/environments/${name}/logs?tail=-1&service=nope`)],
      [400, () => api('POST', `/environments/${name}/extend`, { ttl: '1h', until: 'x' })],
      [400, () => api('POST', `/environments/${name}/extend`, { ttl: '99d' })],
      [400, () => api('POST', `/environments/${name}/snapshots`, { name: 'Bad Name' })],
      [400, () => api('POST', '/seeds/Bad_Name/refresh')],
      [401, () => h.api('GET', '/api/v1/environments', undefined, {})],
      [403, () => api('DELETE', `/environments/${name}`, undefined, BOB)],
      [403, () => api('POST', `/environments/${name}/extend`, { ttl: '1h' }, BOB)],
      [403, () => api('PUT', `/environments/${name}`, { template: 'shop' }, BOB)],
      [404, () => api('GET', '/environments/nothing-here')],
      [404, () => api('GET', '/environments/nothing-here/events')],
      [404, () => api('POST', '/seeds/no-such-dataset/refresh')],
      [409, () => api('POST', '/environments', { template: 'shop', name })],
    ];
    for (const [status, send] of refusals) {
      const res = await send();
      assert.equal(res.status, status, JSON.stringify(res.body));
      assert.ok(res.body.error.code, JSON.stringify(res.body));
    }
  });

  it('when the environment is destroyed, then the destroyed one and a late extend match too', async () => {
    assert.equal((await api('DELETE', `/environments/${name}`)).status, 202);
    const gone = await settled(name, 'destroyed');
    assert.equal(gone.destroyReason, 'destroyed');
    assert.equal((await api('DELETE', `/environments/${name}`)).status, 202, 'idempotent');
    assert.equal((await api('GET', '/environments?all=true')).status, 200);
    const late = await api('POST', `/environments/${name}/extend`, { ttl: '1h' });
    assert.equal(late.status, 409, JSON.stringify(late.body));
    const audit = await api('GET', `/audit?environment=${name}`, undefined, ROOT);
    assert.equal(audit.status, 200, JSON.stringify(audit.body));
    assert.ok(audit.body.entries.length > 0, 'what was done to it is in the audit trail');
    assert.equal((await api('GET', '/audit', undefined, ALICE)).status, 403);
    assert.equal((await api('GET', '/audit?door=fax', undefined, ROOT)).status, 400);
  });

  it('when PostgreSQL refuses connections, then the 503 matches too', async () => {
    await h.stopWorker();
    const dbName = new URL(h.config.databaseUrl).pathname.slice(1);
    const admin = new pg.Client({ connectionString: SHARED_ADMIN_URL });
    await admin.connect();
    try {
      await admin.query(`ALTER DATABASE ${dbName} CONNECTION LIMIT 0`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [dbName]);
      const down = await waitUntil('an answer 503', 20_000, async () => {
        const res = await api('GET', `/environments/${name}`);
        return res.status === 503 ? res : undefined;
      });
      assert.equal(down.body.error.code, 'STORE_UNAVAILABLE');
    } finally {
      await admin.query(`ALTER DATABASE ${dbName} CONNECTION LIMIT -1`);
      await admin.end();
    }
    await waitUntil('PostgreSQL to answer again', 20_000, async () => (await api('GET', `/environments/${name}`)).status === 200);
  });

  it('then every answer was checked against its declaration, and none broke it', () => {
    const expected = [
      'getOpenApiDocument 200', 'getOpenApiDocument 406', 'listTemplates 200', 'listSeeds 200', 'refreshSeed 202',
      'deployEnvironment 202', 'deployEnvironment 200', 'deployEnvironment 400', 'deployEnvironment 403',
      'getEnvironment 200', 'getEnvironment 400', 'getEnvironment 404', 'getEnvironment 503',
      'listEnvironments 200', 'listEnvironments 304', 'listEnvironments 400', 'listEnvironments 401',
      'createEnvironment 202', 'createEnvironment 400', 'createEnvironment 409', 'createEnvironment 429',
      'getEnvironmentEvents 200', 'getEnvironmentEvents 404', 'getEnvironmentLogs 200', 'getEnvironmentLogs 400',
      'extendEnvironment 200', 'extendEnvironment 400', 'extendEnvironment 403', 'extendEnvironment 409',
      'resetEnvironmentDatabase 202', 'destroyEnvironment 202', 'destroyEnvironment 403',
      'refreshSeed 400', 'refreshSeed 404', 'saveEnvironmentSnapshot 400', 'listAudit 200', 'listAudit 403', 'listAudit 400',
    ];
    assert.deepEqual(expected.filter((s) => !h.responses.seen.has(s)), [], 'each of these answers was given and checked');
    assert.deepEqual(h.responses.mismatches, []);
  });
});
