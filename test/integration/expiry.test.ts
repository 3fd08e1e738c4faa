import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, labeledObjects, waitUntil, type Harness, TEST_ACTOR } from '../helpers/harness.js';
import { startStandIn, type StandIn } from '../helpers/standin.js';
import { CALLBACK_SECRET, SLACK_SECRET, slackCommand } from '../helpers/doors.js';
import { verifySha256Signature } from '../../core/doors/signatures.js';

describe('expiry: owners are warned, and "expired" is the reason shown through every door', () => {
  let h: Harness;
  let out: StandIn;
  before(async () => {
    out = await startStandIn();
    h = await startHarness({ env: {
      SLACK_SIGNING_SECRET: SLACK_SECRET, MAYFLY_CALLBACK_SECRET: CALLBACK_SECRET, MAYFLY_EXPIRY_WARNING: '30s', MAYFLY_NOTIFY_INTERVAL: '1s',
      // The stand-in receiver is on loopback, which callbacks may reach only when allowed.
      MAYFLY_CALLBACK_ALLOW: '127.0.0.1',
    } });
  });
  after(async () => { await h.close(); await out.close(); });

  it('when a Slack environment and a callback environment reach the end of their 40 s lease, then each owner is warned with a way to extend, and each door reports "expired"', async () => {
    const ack = await slackCommand(h.baseUrl, { text: 'up shop main ttl=40s', response_url: `${out.url}/slack/exp` });
    assert.match(ack.body.text, /Creating \*shop-main\*/);
    const put = await h.api('PUT', '/api/v1/environments/shop-exp-cb', { template: 'shop', ttl: '40s', callbackUrl: `${out.url}/cb` });
    assert.equal(put.status, 202, JSON.stringify(put.body));
    const slackEnv = (await h.store.getByName('shop-main'))!;

    const slackMsgs = () => out.received.filter((r) => r.path === '/slack/exp').map((r) => String(r.json?.text));
    const callbacks = (event: string) => out.received.filter((r) => r.path === '/cb' && r.json?.event === event);

    const warning = await waitUntil('the Slack expiry warning', 90_000, async () => slackMsgs().find((t) => /lease ends/.test(t)));
    assert.match(warning, /\/mayfly extend shop-main 2h/);
    const [expiring] = await waitUntil('the expiring callback', 90_000, async () => callbacks('expiring').length ? callbacks('expiring') : undefined);
    assert.ok(verifySha256Signature(CALLBACK_SECRET, String(expiring!.headers['x-mayfly-signature']), expiring!.raw));
    assert.ok(expiring!.json.data.secondsLeft <= 40);
    assert.equal(expiring!.json.links.extend, `${h.baseUrl}/api/v1/environments/shop-exp-cb/extend`);

    const [destroyed] = await waitUntil('the destroyed callback', 90_000, async () => callbacks('destroyed').length ? callbacks('destroyed') : undefined);
    assert.equal(destroyed!.json.environment.destroyReason, 'expired');
    assert.equal(destroyed!.json.environment.destroyedBy, 'ttl');
    assert.ok(verifySha256Signature(CALLBACK_SECRET, String(destroyed!.headers['x-mayfly-signature']), destroyed!.raw));
    const gone = await waitUntil('the Slack destroyed follow-up', 60_000, async () => slackMsgs().find((t) => /was destroyed/.test(t)));
    assert.match(gone, /reason: expired/);

    for (const name of ['shop-main', 'shop-exp-cb']) {
      const shown = await h.api('GET', `/api/v1/environments/${name}`);
      assert.equal(shown.body.status, 'destroyed', name);
      assert.equal(shown.body.destroyReason, 'expired', name);
    }
    const status = await slackCommand(h.baseUrl, { text: 'status shop-main' });
    assert.match(status.body.text, /destroyed.*reason: expired/);
    const extendGone = await slackCommand(h.baseUrl, { text: 'extend shop-main 1h' });
    assert.match(extendGone.body.text, /cannot be extended/);

    // Warned once per lease end; Slack follow-ups within its limit of five.
    const warnings = await h.pool.query(`SELECT environment_id FROM environment_events WHERE type = 'expiring'`);
    assert.equal(warnings.rowCount, 2);
    assert.ok(slackMsgs().length <= 5, String(slackMsgs().length));
    assert.deepEqual(await labeledObjects(h.docker, slackEnv.id), { containers: 0, networks: 0, volumes: 0 });
  });

  it('when a warned lease is extended into the window again, then it is warned again, once', async () => {
    const { env } = await h.ctx.environments.recordDeploy(TEST_ACTOR, { name: 'shop-warn', template: 'shop', owner: 'test', images: {}, seed: null, ttlSeconds: 25 }, { ttlGiven: true });
    // Ready without Docker: this test is about the warning bookkeeping only.
    await h.pool.query(`UPDATE environments SET status = 'ready' WHERE id = $1`, [env.id]);
    const count = async () => Number((await h.pool.query(`SELECT count(*) FROM environment_events WHERE environment_id = $1 AND type = 'expiring'`, [env.id])).rows[0].count);
    await waitUntil('the first warning', 10_000, async () => (await count()) === 1);
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(await count(), 1, 'not warned twice for one lease end');
    await h.store.extend(env.id, 28, 'test');
    await waitUntil('the second warning', 10_000, async () => (await count()) === 2);
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(await count(), 2);
    await h.pool.query(`UPDATE environments SET status = 'destroyed', destroyed_at = now() WHERE id = $1`, [env.id]);
  });
});
