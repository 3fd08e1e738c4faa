import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';
import { startStandIn, type StandIn } from '../helpers/standin.js';
import { CALLBACK_SECRET } from '../helpers/doors.js';
import { verifySha256Signature } from '../../core/doors/signatures.js';
import { EMPTY_ALLOW_LIST } from '../../core/doors/outbound-guard.js';
import { notify } from '../../worker/jobs/notify.js';

describe('callbacks: signed events for CI', () => {
  let h: Harness;
  let ci: StandIn;
  before(async () => {
    ci = await startStandIn();
    // The stand-in receiver is on loopback, which callbacks may reach only when allowed.
    h = await startHarness({ env: { MAYFLY_CALLBACK_SECRET: CALLBACK_SECRET, MAYFLY_NOTIFY_INTERVAL: '1s', MAYFLY_CALLBACK_ALLOW: '127.0.0.1' } });
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

  it('when callbackUrl names a loopback, private, link-local or metadata address that MAYFLY_CALLBACK_ALLOW does not list, then 400 names callbackUrl and the setting, and nothing is created', async () => {
    for (const callbackUrl of ['http://169.254.169.254/latest/meta-data/', 'http://10.0.0.1/hook', 'http://127.0.0.2:9/x', 'http://[::1]:9/x', 'http://[::ffff:169.254.169.254]/', 'http://localhost:9/x']) {
      const res = await h.api('PUT', `/api/v1/environments/${uniqueName('shop-cb')}`, { template: 'shop', callbackUrl });
      assert.equal(res.status, 400, callbackUrl);
      assert.deepEqual(res.body.error.details.map((d: { field: string }) => d.field), ['callbackUrl']);
      assert.match(res.body.error.details[0].message, /MAYFLY_CALLBACK_ALLOW/, callbackUrl);
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

describe('callbacks: the address guard at delivery', () => {
  let h: Harness;
  let ci: StandIn;
  before(async () => {
    ci = await startStandIn();
    // The API accepts the loopback receiver (allowed); the notifier is run by the test, once with
    // this allow-list and once without it, as after an operator removed the entry. The scheduled
    // notifier (hourly) has nothing to deliver when it runs at start.
    h = await startHarness({ env: { MAYFLY_CALLBACK_SECRET: CALLBACK_SECRET, MAYFLY_NOTIFY_INTERVAL: '1h', MAYFLY_CALLBACK_ALLOW: '127.0.0.1' } });
  });
  after(async () => { await h.close(); await ci.close(); });

  it('when the receiver is on 127.0.0.1 and MAYFLY_CALLBACK_ALLOW does not list it, then nothing is sent and the refusal is recorded on the timeline and the delivery; with it, the next event is delivered', async () => {
    const name = uniqueName('shop-guard');
    const put = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop', ttl: '1h', callbackUrl: `${ci.url}/hooks/guard` });
    assert.equal(put.status, 202, JSON.stringify(put.body));
    await waitUntil('ready', 240_000, async () => (await h.api('GET', `/api/v1/environments/${name}`)).body.status === 'ready');
    // No scheduled notifier from here on: only the test's run below delivers.
    await h.stopWorker();

    const notifications = h.ctx.notifications;
    const withoutAllow = { ...h.ctx, config: { ...h.config, doors: { ...h.config.doors, callbackAllow: EMPTY_ALLOW_LIST } } };
    const refused = await notify(withoutAllow, notifications);
    assert.equal(refused.delivered, 0);
    assert.ok(refused.failed >= 1, JSON.stringify(refused));
    assert.equal(ci.received.length, 0, "no request reached the receiver");

    const port = new URL(ci.url).port;
    const records = await h.pool.query(`SELECT event_type, outcome, detail FROM notification_deliveries ORDER BY event_id`);
    assert.deepEqual(records.rows.map((r) => [r.event_type, r.outcome]), [['ready', 'gave-up']]);
    assert.match(records.rows[0].detail, /refused to call 127\.0\.0\.1: the address is loopback/);
    assert.match(records.rows[0].detail, /MAYFLY_CALLBACK_ALLOW allows it \(add 127\.0\.0\.1\)/);
    const events = (await h.api('GET', `/api/v1/environments/${name}/events`)).body.events as { type: string; message: string; data: Record<string, unknown> }[];
    const timeline = events.filter((e) => e.type === 'callback-refused');
    assert.equal(timeline.length, 1, JSON.stringify(events.map((e) => e.type)));
    assert.match(timeline[0]!.message, new RegExp(`callback to http://127\\.0\\.0\\.1:${port}/hooks/guard not sent: refused to call 127\\.0\\.0\\.1`));
    assert.equal(timeline[0]!.data.setting, 'MAYFLY_CALLBACK_ALLOW');
    assert.equal(timeline[0]!.data.address, '127.0.0.1');

    // With the allow-list (the harness's own config, the worker's again), the next event goes out.
    await h.startWorker();
    const del = await h.api('DELETE', `/api/v1/environments/${name}`);
    assert.equal(del.status, 202);
    await waitUntil('destroyed', 120_000, async () => (await h.api('GET', `/api/v1/environments/${name}`)).body.status === 'destroyed');
    await waitUntil('the destroyed callback', 60_000, async () => {
      await notify(h.ctx, notifications);
      return ci.received.length > 0;
    });
    assert.deepEqual(ci.received.map((r) => [r.path, r.json?.event]), [['/hooks/guard', 'destroyed']]);
    assert.ok(verifySha256Signature(CALLBACK_SECRET, String(ci.received[0]!.headers['x-mayfly-signature']), ci.received[0]!.raw));
  });
});
