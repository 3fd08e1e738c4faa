/**
 * Slack beyond 30 minutes: with a bot token, an environment deployed from Slack has one channel
 * message for its whole life, against a stand-in Slack Web API on loopback that records every
 * call. Deployed by a signed slash command, it is posted once and then edited (a burst of
 * changes is one edit); ready, it shows the URL; before the lease ends its thread gets a warning
 * with Extend and Destroy buttons; clicks come back signed to /slack/interactivity and go
 * through the same rules as every other door; destroyed, the message says why. The notifier is
 * driven by the test (MAYFLY_NOTIFY_INTERVAL is an hour), so the exact calls are known.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, waitUntil, type Harness } from '../helpers/harness.js';
import { startStandIn, type StandIn } from '../helpers/standin.js';
import { startSlackStandIn, type SlackCall, type SlackStandIn } from '../helpers/slack-api.js';
import { SLACK_SECRET, slackClick, slackCommand, slackInteraction } from '../helpers/doors.js';
import { notifyUntilDelivered } from '../helpers/notifier.js';
import { notify } from '../../worker/jobs/notify.js';

const NAME = 'shop-pr-2';
const BOT = 'xoxb-bot-token-for-tests';
const shape = (c: SlackCall) => `${c.method} ${c.path}`;
const hasButtons = (c: SlackCall) => JSON.stringify(c.json?.blocks ?? []).includes('"type":"actions"');
const epochOf = (d: Date) => Math.floor(d.getTime() / 1000);

describe('Slack beyond 30 minutes: one channel message, an expiry warning with buttons, the reason when it goes', () => {
  let h: Harness;
  let slack: SlackStandIn;
  /** Where response_url points: nothing should go there but the refusal of a click. */
  let responses: StandIn;
  let ts = '';
  let warningTs = '';

  before(async () => {
    slack = await startSlackStandIn();
    responses = await startStandIn();
    h = await startHarness({ env: {
      SLACK_SIGNING_SECRET: SLACK_SECRET, MAYFLY_SLACK_BOT_TOKEN: BOT, MAYFLY_SLACK_API_URL: slack.url,
      MAYFLY_SLACK_EXPIRY_WARNING: '30m', MAYFLY_NOTIFY_INTERVAL: '1h', MAYFLY_GITHUB_COMMENT_DEBOUNCE: '1s',
      MAYFLY_TEAMS: 'qa=slack:U1;platform=slack:UOTHER',
      // The machine may be shared and busy: a slow start is not what this file tests.
      MAYFLY_HEALTH_TIMEOUT: '10m',
    } });
  });
  after(async () => {
    await h.close();
    await slack.close();
    await responses.close();
  });

  const deliver = (what: string) => notifyUntilDelivered(h, 'slack-bot', what);
  const env = async () => (await h.store.getByName(NAME))!;
  const subscription = async () => (await h.pool.query(`SELECT data, last_error, attempts, active FROM notification_subscriptions WHERE kind = 'slack-bot'`)).rows;
  /** The environment once it settles; a busy shared machine may take more than one long poll. */
  async function settled(): Promise<any> {
    for (let i = 0; ; i++) {
      const res = await h.api('GET', `/api/v1/environments/${NAME}?wait=120`);
      if (['ready', 'sleeping', 'failed', 'destroyed'].includes(res.body.status) || i === 4) return res.body;
    }
  }
  /** Runs the notifier after the debounce has passed and asserts that Slack was not called at all. */
  async function assertNoSlackCall(what: string): Promise<void> {
    const mark = slack.calls.length;
    await new Promise((r) => setTimeout(r, 1500));
    await notify(h.ctx, h.ctx.notifications);
    assert.deepEqual(slack.since(mark).map(shape), [], what);
  }

  it('when a signed slash command deploys, then one channel message is posted, its ts is kept in PostgreSQL, and ready edits it with the URL', async () => {
    // No worker yet: the environment stays queued, so the first rendering is known.
    await h.stopWorker();
    const ack = await slackCommand(h.baseUrl, { text: 'up shop pr-2 ttl=2h', channel_id: 'C1', response_url: `${responses.url}/response/cmd-1` });
    assert.equal(ack.status, 200);
    assert.match(ack.body.text, /Creating \*shop-pr-2\*.*I will post one message in this channel and keep it up to date/);
    let mark = slack.calls.length;
    await deliver('queued');
    let calls = slack.since(mark);
    assert.deepEqual(calls.map(shape), ['POST /chat.postMessage']);
    assert.equal(calls[0]!.authorization, `Bearer ${BOT}`);
    assert.equal(calls[0]!.json.channel, 'C1');
    assert.equal(calls[0]!.json.thread_ts, undefined);
    assert.equal(calls[0]!.json.text, 'shop-pr-2 is queued');
    assert.match(JSON.stringify(calls[0]!.json.blocks), /owner <@U1>/);
    ts = [...slack.messages.values()][0]!.ts;
    const [sub] = await subscription();
    assert.equal(sub.data.ts, ts, 'the message ts is kept with the subscription (found again after a restart)');
    assert.equal(sub.data.channel, 'C1');

    await h.startWorker();
    const ready = await settled();
    assert.equal(ready.status, 'ready', JSON.stringify(ready.failure));
    mark = slack.calls.length;
    await deliver('ready');
    calls = slack.since(mark);
    assert.deepEqual(calls.map(shape), ['POST /chat.update']);
    assert.equal(calls[0]!.json.ts, ts);
    assert.equal(calls[0]!.json.channel, 'C1');
    assert.equal(calls[0]!.json.text, `shop-pr-2 is ready: ${ready.url}`);
    assert.ok(JSON.stringify(calls[0]!.json.blocks).includes(`<${ready.url}|${ready.url}>`));
    assert.ok(!hasButtons(calls[0]!), 'no warning yet: the lease ends in 2h');
  });

  it('when a burst of changes comes (three extends in a row), then it is one edit showing the last lease end', async () => {
    for (const ttl of ['3h', '4h', '5h']) {
      const res = await slackCommand(h.baseUrl, { text: `extend ${NAME} ${ttl}` });
      assert.match(res.body.text, new RegExp(`now expires in ${ttl}`));
    }
    const mark = slack.calls.length;
    await deliver('three extends');
    const calls = slack.since(mark);
    assert.deepEqual(calls.map(shape), ['POST /chat.update']);
    assert.equal(calls[0]!.json.ts, ts);
    assert.ok(JSON.stringify(calls[0]!.json.blocks).includes(`<!date^${epochOf((await env()).expiresAt)}^`), 'the lease end of the last extend');
  });

  it('when Slack answers ok:false (not_in_channel), then the failure is recorded with what to do and the edit is retried with backoff', async () => {
    await slackCommand(h.baseUrl, { text: `extend ${NAME} 6h` });
    slack.failNext('chat.update', 'not_in_channel');
    const mark = slack.calls.length;
    await new Promise((r) => setTimeout(r, 1500)); // past the debounce: the next run tries
    await notify(h.ctx, h.ctx.notifications);
    assert.deepEqual(slack.since(mark).map(shape), ['POST /chat.update']);
    const [failed] = await subscription();
    assert.equal(failed.attempts, 1);
    assert.match(failed.last_error, /chat\.update answered not_in_channel: invite the Mayfly app to the channel/);
    await deliver('after not_in_channel');
    const calls = slack.since(mark);
    assert.deepEqual(calls.map(shape), ['POST /chat.update', 'POST /chat.update']);
    // The same edit again (only the time left may have moved on).
    assert.deepEqual([calls[1]!.json.channel, calls[1]!.json.ts, calls[1]!.json.text, calls[1]!.json.blocks[0]],
      [calls[0]!.json.channel, calls[0]!.json.ts, calls[0]!.json.text, calls[0]!.json.blocks[0]]);
    const [ok] = await subscription();
    assert.equal(ok.last_error, null);
    assert.equal(ok.data.ts, ts, 'still the same message');
  });

  it('when Slack rate-limits the edit (429, Retry-After: 30), then the retry waits at least that long, not the shorter backoff', async () => {
    await slackCommand(h.baseUrl, { text: `extend ${NAME} 5h` });
    slack.failNext('chat.update', 'ratelimited', 30);
    const mark = slack.calls.length;
    await new Promise((r) => setTimeout(r, 1500)); // past the debounce: the next run tries
    await notify(h.ctx, h.ctx.notifications);
    assert.deepEqual(slack.since(mark).map(shape), ['POST /chat.update']);
    const { rows: [waiting] } = await h.pool.query(
      `SELECT last_error, attempts, extract(epoch FROM next_attempt_at - now())::float AS wait FROM notification_subscriptions WHERE kind = 'slack-bot'`);
    assert.equal(waiting.attempts, 1);
    assert.match(waiting.last_error, /chat\.update answered ratelimited \(retry after 30 s\): Slack rate-limits the app/);
    assert.ok(waiting.wait > 20, `the next attempt is Retry-After away (the backoff alone would be 1 s): ${waiting.wait} s`);
    await assertNoSlackCall('nothing before Retry-After');
    // The test does not wait 30 s: it moves the next attempt to now.
    await h.pool.query(`UPDATE notification_subscriptions SET next_attempt_at = now() WHERE kind = 'slack-bot'`);
    await deliver('after the rate limit');
    assert.deepEqual(slack.since(mark).map(shape), ['POST /chat.update', 'POST /chat.update']);
  });

  it('when the lease ends within MAYFLY_SLACK_EXPIRY_WARNING, then the thread gets one warning with Extend 1h and Destroy buttons', async () => {
    await slackCommand(h.baseUrl, { text: `extend ${NAME} 20m` });
    const mark = slack.calls.length;
    await deliver('expiry warning');
    const calls = slack.since(mark);
    assert.deepEqual(calls.map(shape), ['POST /chat.update', 'POST /chat.postMessage']);
    assert.equal(calls[0]!.json.ts, ts);
    const warning = calls[1]!;
    assert.equal(warning.json.channel, 'C1');
    assert.equal(warning.json.thread_ts, ts, 'in the message\'s thread');
    assert.equal(warning.json.reply_broadcast, true);
    assert.match(warning.json.text, /^shop-pr-2's lease ends at .* Extend it by 1h or destroy it now\.$/);
    const buttons = warning.json.blocks.find((b: any) => b.type === 'actions').elements;
    assert.deepEqual(buttons.map((b: any) => [b.text.text, b.action_id]), [['Extend 1h', `mayfly-extend:${NAME}`], ['Destroy', `mayfly-destroy:${NAME}`]]);
    warningTs = [...slack.messages.values()].find((m) => m.threadTs === ts)!.ts;
    const events = await h.pool.query(`SELECT count(*) FROM environment_events WHERE environment_id = $1 AND type = 'slack-expiring'`, [(await env()).id]);
    assert.equal(Number(events.rows[0].count), 1);
    await assertNoSlackCall('one warning per lease end');
  });

  it('when an interactivity request is unsigned, tampered, stale or signed with another secret, then it gets 401 and nothing changes', async () => {
    const before = await env();
    const click = slackClick('destroy', NAME, 'U1', { responseUrl: `${responses.url}/response/forged`, messageTs: warningTs });
    const now = Math.floor(Date.now() / 1000);
    for (const [what, opts] of [
      ['unsigned', { unsigned: true }], ['tampered', { tamper: true }], ['stale', { timestamp: now - 360 }], ['other secret', { secret: 'not-the-signing-secret' }],
    ] as const) {
      const res = await slackInteraction(h.baseUrl, click, opts);
      assert.equal(res.status, 401, `${what}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, 'BAD_SIGNATURE', what);
    }
    const bad = await slackInteraction(h.baseUrl, 'not an object');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details[0].field, 'payload');
    const now2 = await env();
    assert.equal(now2.status, before.status);
    assert.equal(now2.expiresAt.getTime(), before.expiresAt.getTime());
    assert.equal(Number((await h.pool.query(`SELECT count(*) FROM audit_log WHERE door = 'slack' AND action = 'environment.destroy'`)).rows[0].count), 0);
    await assertNoSlackCall('a forged click changes nothing');
    assert.equal(responses.received.length, 0);
  });

  it('when someone outside the team clicks Destroy, then it is refused, shown to them alone, and nothing changes', async () => {
    const before = await env();
    const res = await slackInteraction(h.baseUrl, slackClick('destroy', NAME, 'UOTHER', { responseUrl: `${responses.url}/response/click-other`, messageTs: warningTs }));
    assert.equal(res.status, 200);
    const refusal = await waitUntil('the refusal on response_url', 30_000, async () => responses.received.find((r) => r.path === '/response/click-other'));
    assert.equal(refusal.json.response_type, 'ephemeral');
    assert.equal(refusal.json.replace_original, false);
    assert.match(refusal.json.text, /Cannot destroy \*shop-pr-2\*: environment "shop-pr-2" belongs to team "qa"; slack:UOTHER \(team "platform"\) may not change it/);
    const now = await env();
    assert.equal(now.status, 'ready');
    assert.equal(now.expiresAt.getTime(), before.expiresAt.getTime());
    const denied = await h.pool.query(`SELECT actor, action, door FROM audit_log WHERE outcome = 'denied' ORDER BY id`);
    assert.deepEqual(denied.rows, [{ actor: 'slack:UOTHER', action: 'environment.destroy', door: 'slack' }]);
    await assertNoSlackCall('a refused click edits nothing');
  });

  it('when a team member clicks Extend 1h, then the lease moves, the message shows it and the warning loses its buttons', async () => {
    const before = await env();
    const res = await slackInteraction(h.baseUrl, slackClick('extend', NAME, 'U1', { responseUrl: `${responses.url}/response/click-extend`, messageTs: warningTs }));
    assert.equal(res.status, 200);
    const moved = await env();
    assert.ok(moved.expiresAt.getTime() > before.expiresAt.getTime(), 'the lease moved');
    assert.ok(moved.expiresAt.getTime() > Date.now() + 50 * 60_000, `about an hour from now: ${moved.expiresAt.toISOString()}`);
    const audit = await h.pool.query(`SELECT actor, door, outcome FROM audit_log WHERE action = 'environment.extend' ORDER BY id DESC LIMIT 1`);
    assert.deepEqual(audit.rows[0], { actor: 'slack:U1', door: 'slack', outcome: 'allowed' });
    const mark = slack.calls.length;
    await deliver('extended by the button');
    const calls = slack.since(mark);
    assert.deepEqual(calls.map((c) => [shape(c), c.json.ts]), [['POST /chat.update', ts], ['POST /chat.update', warningTs]]);
    assert.ok(JSON.stringify(calls[0]!.json.blocks).includes(`<!date^${epochOf(moved.expiresAt)}^`));
    assert.ok(!hasButtons(calls[1]!), 'the warning has no buttons any more');
    assert.match(calls[1]!.json.text, /^shop-pr-2's lease now ends at .* \(lease extended by slack:U1: expires in 3600s\)$/);
    assert.equal(responses.received.filter((r) => r.path === '/response/click-extend').length, 0, 'done: nothing to tell the clicker alone');
  });

  it('when the lease nears its end again and a team member clicks Destroy, then it goes and the message and the warning say why', async () => {
    await slackCommand(h.baseUrl, { text: `extend ${NAME} 20m` });
    let mark = slack.calls.length;
    await deliver('second warning');
    let calls = slack.since(mark);
    assert.deepEqual(calls.map(shape), ['POST /chat.update', 'POST /chat.postMessage']);
    assert.ok(hasButtons(calls[1]!));
    const secondWarning = [...slack.messages.values()].filter((m) => m.threadTs === ts).at(-1)!.ts;
    assert.notEqual(secondWarning, warningTs);

    const id = (await env()).id;
    const res = await slackInteraction(h.baseUrl, slackClick('destroy', NAME, 'U1', { responseUrl: `${responses.url}/response/click-destroy`, messageTs: secondWarning }));
    assert.equal(res.status, 200);
    await waitUntil(`${NAME} to be destroyed`, 300_000, async () => (await h.store.getById(id))?.status === 'destroyed');
    mark = slack.calls.length;
    await deliver('destroyed');
    calls = slack.since(mark);
    assert.deepEqual(calls.map((c) => [shape(c), c.json.ts]), [['POST /chat.update', ts], ['POST /chat.update', secondWarning]]);
    assert.equal(calls[0]!.json.text, 'shop-pr-2 was destroyed — reason: destroyed (by slack:U1)');
    assert.match(JSON.stringify(calls[0]!.json.blocks), /was \*destroyed\* — reason: destroyed \(by <@U1>\)/);
    assert.equal(calls[1]!.json.text, 'shop-pr-2 was destroyed — reason: destroyed (by slack:U1)');
    assert.ok(!hasButtons(calls[1]!));
    const [sub] = await subscription();
    assert.equal(sub.active, false, 'nothing more to hear');

    // The whole life: one channel message, two warnings in its thread; nothing on response_url but the refusal.
    const posts = slack.calls.filter((c) => c.path === '/chat.postMessage');
    assert.deepEqual(posts.map((c) => c.json.thread_ts ?? null), [null, ts, ts]);
    assert.deepEqual(responses.received.map((r) => r.path), ['/response/click-other']);
  });
});
