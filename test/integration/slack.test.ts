import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AUTH, startHarness, waitUntil, type Harness } from '../helpers/harness.js';
import { startStandIn, type StandIn } from '../helpers/standin.js';
import { SLACK_SECRET, slackCommand } from '../helpers/doors.js';

describe('the Slack door: /slack/commands', () => {
  let h: Harness;
  let slack: StandIn;
  before(async () => {
    slack = await startStandIn();
    h = await startHarness({ env: { SLACK_SIGNING_SECRET: SLACK_SECRET, MAYFLY_NOTIFY_INTERVAL: '1s' } });
  });
  after(async () => { await h.close(); await slack.close(); });

  const count = async () => Number((await h.pool.query('SELECT count(*) FROM environments')).rows[0].count);

  it('when a request is unsigned, tampered, stale, from the future or signed with another secret, then it gets 401 and nothing is created', async () => {
    const up = { text: 'up shop pr-1', response_url: `${slack.url}/refused` };
    const now = Math.floor(Date.now() / 1000);
    for (const [what, opts] of [
      ['unsigned', { unsigned: true }],
      ['tampered', { tamper: true }],
      ['stale', { timestamp: now - 360 }],
      ['future', { timestamp: now + 360 }],
      ['other secret', { secret: 'not-the-signing-secret' }],
    ] as const) {
      const res = await slackCommand(h.baseUrl, up, opts);
      assert.equal(res.status, 401, `${what}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, 'BAD_SIGNATURE', what);
    }
    assert.equal(await count(), 0);
    assert.equal(slack.received.length, 0);
  });

  it("when Slack's published test vector is replayed today, then it is refused as stale", async () => {
    const body = 'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    const res = await fetch(`${h.baseUrl}/slack/commands`, {
      method: 'POST', body,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': '1531420618', 'x-slack-signature': 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503' },
    });
    assert.equal(res.status, 401);
    assert.match((await res.json() as any).error.message, /five minutes/);
  });

  it('when the text is help, empty or unknown, then the answer is the usage, ephemeral', async () => {
    for (const text of ['help', '', 'launch rockets']) {
      const res = await slackCommand(h.baseUrl, { text });
      assert.equal(res.status, 200);
      assert.equal(res.body.response_type, 'ephemeral');
      assert.match(res.body.text, /up <template>/, text);
    }
    const bad = await slackCommand(h.baseUrl, { text: 'up shop no/such:tag' });
    assert.match(bad.body.text, /tag/);
    assert.equal(await count(), 0);
  });

  it('when a signed "up shop pr-1" arrives, then it is acknowledged within 3 s, becomes ready, and response_url gets a follow-up with its URL; status, extend, list and down work', async () => {
    const responseUrl = `${slack.url}/commands/T1/1/abc`;
    const ack = await slackCommand(h.baseUrl, { text: 'up shop pr-1 ttl=1h', response_url: responseUrl });
    assert.equal(ack.status, 200);
    assert.ok(ack.ms < 3000, `acknowledged in ${ack.ms} ms`);
    assert.equal(ack.body.response_type, 'ephemeral');
    assert.match(ack.body.text, /Creating \*shop-pr-1\*/);

    const env = await h.store.getByName('shop-pr-1');
    assert.ok(env);
    assert.equal(env.door, 'slack');
    assert.equal(env.owner, 'slack:U1', 'the owner is the Slack user id, not the display name');

    const readyMsg = await waitUntil('a ready follow-up on response_url', 120_000, async () =>
      slack.received.find((r) => r.path === '/commands/T1/1/abc' && /is ready/.test(r.json?.text ?? '')));
    const shown = await h.api('GET', '/api/v1/environments/shop-pr-1');
    assert.equal(shown.body.status, 'ready');
    assert.equal(shown.body.door, 'slack');
    assert.ok(readyMsg.json.text.includes(shown.body.url), `${readyMsg.json.text} names ${shown.body.url}`);
    assert.equal(readyMsg.json.response_type, 'ephemeral');
    assert.match(readyMsg.json.text, /\/mayfly extend shop-pr-1/);
    const page = await (await fetch(shown.body.url, { headers: AUTH })).text(); // previews are private: with the API token
    assert.match(page, /data-testid="tag">pr-1</);

    const status = await slackCommand(h.baseUrl, { text: 'status shop-pr-1' });
    assert.match(status.body.text, /ready/);
    assert.ok(status.body.text.includes(shown.body.url));

    const extend = await slackCommand(h.baseUrl, { text: 'extend shop-pr-1 3h' });
    assert.match(extend.body.text, /now expires in 3h/);
    assert.ok((await h.store.getByName('shop-pr-1'))!.expiresAt.getTime() > Date.now() + 3 * 3600_000 - 60_000);
    const tooLong = await slackCommand(h.baseUrl, { text: 'extend shop-pr-1 900h' });
    assert.match(tooLong.body.text, /maximum/);

    const list = await slackCommand(h.baseUrl, { text: 'list' });
    assert.match(list.body.text, /shop-pr-1/);

    const downUrl = `${slack.url}/commands/T1/2/def`;
    const down = await slackCommand(h.baseUrl, { text: 'down shop-pr-1', response_url: downUrl });
    assert.match(down.body.text, /Tearing down/);
    const gone = await waitUntil('a destroyed follow-up', 60_000, async () =>
      slack.received.find((r) => r.path === '/commands/T1/2/def' && /destroyed/.test(r.json?.text ?? '')));
    assert.match(gone.json.text, /reason: destroyed \(by slack:U1\)/);
    const after = await slackCommand(h.baseUrl, { text: 'status shop-pr-1' });
    assert.match(after.body.text, /destroyed.*reason: destroyed/);

    // Slack allows five uses of a response_url: Mayfly never goes beyond.
    await new Promise((r) => setTimeout(r, 2500));
    for (const path of ['/commands/T1/1/abc', '/commands/T1/2/def']) {
      assert.ok(slack.received.filter((r) => r.path === path).length <= 5, path);
    }
  });
});
