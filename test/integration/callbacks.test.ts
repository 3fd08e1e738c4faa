import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';
import { startStandIn, type StandIn } from '../helpers/standin.js';
import { CALLBACK_SECRET } from '../helpers/doors.js';
import { verifySha256Signature } from '../../core/doors/signatures.js';

describe('callbacks: signed events for CI', () => {
  let h: Harness;
  let ci: StandIn;
  before(async () => {
    ci = await startStandIn();
    h = await startHarness({ env: { MAYFLY_CALLBACK_SECRET: CALLBACK_SECRET, MAYFLY_NOTIFY_INTERVAL: '1s' } });
  });
  after(async () => { await h.close(); await ci.close(); });

  it('when callbackUrl is not an http(s) URL, then the answer is 400 naming callbackUrl and nothing is created', async () => {
    for (const callbackUrl of ['ftp://127.0.0.1/x', 'not a url', 42, 'http://user:pw@127.0.0.1/x']) {
      const res = await h.api('PUT', `/api/v1/environments/${uniqueName('shop-cb')}`, { template: 'shop', callbackUrl });
      assert.equal(res.status, 400, JSON.stringify(callbackUrl));
      assert.deepEqual(res.body.error.details.map((d: { field: string }) => d.field), ['callbackUrl']);
    }
    assert.equal(Number((await h.pool.query('SELECT count(*) FROM environments')).rows[0].count), 0);
  });

  it('when an environment has a callbackUrl, then it receives ready (retried after a 500) and destroyed, each signed with MAYFLY_CALLBACK_SECRET', async () => {
    const name = uniqueName('shop-cb');
    let failedOnce = false;
    ci.answer = (r) => {
      if (r.json?.event === 'ready' && !failedOnce) { failedOnce = true; return 500; }
      return 204;
    };
    const res = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop', ttl: '1h', callbackUrl: `${ci.url}/hooks/mayfly?job=1` }, { ...(await import('../helpers/harness.js')).AUTH, 'X-Mayfly-Client': 'cli' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.door, 'cli');

    const readyCalls = await waitUntil('the ready callback, twice (a 500 then a 204)', 120_000, async () => {
      const calls = ci.received.filter((r) => r.json?.event === 'ready');
      return calls.length >= 2 ? calls : undefined;
    });
    for (const call of readyCalls) {
      assert.equal(call.path, '/hooks/mayfly?job=1');
      assert.equal(call.headers['x-mayfly-event'], 'ready');
      assert.ok(verifySha256Signature(CALLBACK_SECRET, String(call.headers['x-mayfly-signature']), call.raw), 'valid signature');
      assert.ok(!verifySha256Signature('another-secret-123', String(call.headers['x-mayfly-signature']), call.raw));
    }
    assert.equal(readyCalls[0]!.headers['x-mayfly-delivery'], readyCalls[1]!.headers['x-mayfly-delivery'], 'a retry keeps its delivery id');
    assert.ok(readyCalls[1]!.at - readyCalls[0]!.at >= 900, 'retried after a backoff');
    const ready = readyCalls[1]!.json;
    assert.equal(ready.environment.name, name);
    assert.equal(ready.environment.status, 'ready');
    assert.match(ready.environment.url, /^http:\/\/[a-z0-9-]+\.localhost:\d+$/, 'the router address');

    await h.api('DELETE', `/api/v1/environments/${name}`);
    const destroyed = await waitUntil('the destroyed callback', 60_000, async () => ci.received.find((r) => r.json?.event === 'destroyed'));
    assert.ok(verifySha256Signature(CALLBACK_SECRET, String(destroyed.headers['x-mayfly-signature']), destroyed.raw));
    assert.equal(destroyed.json.environment.destroyReason, 'destroyed');
    assert.equal(destroyed.json.environment.destroyedBy, 'test');
    assert.equal(destroyed.headers['x-mayfly-event'], 'destroyed');

    const outcomes = await h.pool.query(`SELECT event_type, outcome, attempts FROM notification_deliveries ORDER BY event_id`);
    assert.deepEqual(outcomes.rows.map((r) => [r.event_type, r.outcome]), [['ready', 'delivered'], ['destroyed', 'delivered']]);
    assert.equal(outcomes.rows[0].attempts, 2);
  });
});
