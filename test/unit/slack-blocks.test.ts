import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { actionId, environmentMessage, expiryWarning, parseInteraction, slackText, warningClosed } from '../../core/doors/slack-blocks.js';
import { SlackApiError, SlackClient } from '../../core/doors/slack-client.js';
import { OutboundError, retryAfterMs } from '../../core/doors/http-out.js';
import { InputError } from '../../core/domain/errors.js';
import { ConfigError, loadConfig } from '../../core/config/config.js';
import type { Environment } from '../../core/domain/environment.js';
import { startSlackStandIn, type SlackStandIn } from '../helpers/slack-api.js';

const NOW = new Date('2026-12-02T05:00:00Z');
function env(over: Partial<Environment> = {}): Environment {
  return {
    id: '00000000-0000-4000-8000-000000000001', name: 'shop-pr-7', template: 'shop', status: 'ready', owner: 'slack:U1', team: 'qa',
    door: 'slack', access: null, origin: null, images: { web: 'reg/mayfly/shop:pr-7', db: 'reg/mayfly/postgres:15' }, digests: {},
    seed: 'demo', ttlSeconds: 3600, expiresAt: new Date(NOW.getTime() + 20 * 60_000), generation: 1, project: 'mayfly-shop-pr-7',
    urls: { web: 'http://shop-pr-7.mayfly.example' }, endpoints: {}, lastActivityAt: null, failure: null, destroyReason: null, destroyedBy: null,
    seededAt: null, node: null, createdAt: NOW, updatedAt: NOW, readyAt: NOW, destroyedAt: null, snapshotKey: null, cloneStrategy: null, parentId: null, forkDepth: 0, restoreFrom: null, ...over,
  };
}
const all = (m: { blocks: unknown[] }) => JSON.stringify(m.blocks);
const EPOCH = Math.floor(NOW.getTime() / 1000) + 20 * 60;

describe('the Slack channel message', () => {
  it('when the environment is ready, then the message names it, links its address, its lease end in the reader\'s time zone, the owner and the links', () => {
    const m = environmentMessage({ env: env(), entryService: 'web', publicUrl: 'https://mayfly.example', now: NOW });
    assert.equal(m.text, 'shop-pr-7 is ready: http://shop-pr-7.mayfly.example');
    const blocks = m.blocks as any[];
    assert.equal(blocks[0].type, 'section');
    assert.equal(blocks[0].text.text, ':white_check_mark: *shop-pr-7* is *ready*: <http://shop-pr-7.mayfly.example|http://shop-pr-7.mayfly.example>');
    assert.match(blocks[1].elements[0].text, new RegExp(`lease ends <!date\\^${EPOCH}\\^\\{date_short_pretty\\} at \\{time\\}\\|2026-12-02T05:20:00.000Z> \\(in 20m\\)`));
    assert.match(blocks[1].elements[0].text, /owner <@U1>/);
    assert.match(blocks[1].elements[0].text, /images web=`shop:pr-7`, db=`postgres:15`/);
    assert.equal(blocks.at(-1).elements[0].text,
      '<https://mayfly.example/environments/shop-pr-7|Page> · <https://mayfly.example/environments/shop-pr-7#services|Logs> · <https://mayfly.example/environments/shop-pr-7#timeline-h|Timeline>');
    assert.doesNotMatch(all(m), /"actions"/, 'the channel message has no buttons');
  });

  it('when it is queued, provisioning, failed or asleep, then the headline says so', () => {
    assert.equal(environmentMessage({ env: env({ status: 'queued' }), publicUrl: 'https://m', now: NOW }).text, 'shop-pr-7 is queued');
    assert.equal(environmentMessage({ env: env({ status: 'provisioning' }), publicUrl: 'https://m', now: NOW }).text, 'shop-pr-7 is being provisioned');
    const failed = environmentMessage({ env: env({ status: 'failed', failure: { code: 'IMAGE_PULL_FAILED', message: 'manifest unknown' } }), publicUrl: 'https://m', now: NOW });
    assert.equal(failed.text, 'shop-pr-7 failed (IMAGE_PULL_FAILED)');
    assert.equal((failed.blocks as any[])[0].text.text, ':x: *shop-pr-7* *failed* (`IMAGE_PULL_FAILED`): manifest unknown');
    assert.match((environmentMessage({ env: env({ status: 'sleeping' }), publicUrl: 'https://m', now: NOW }).blocks as any[])[0].text.text, /is \*asleep\*.*opening it wakes it/);
  });

  it('when the environment is destroyed, then the message says why and by whom, and shows no lease', () => {
    const m = environmentMessage({ env: env({ status: 'destroyed', destroyReason: 'expired', destroyedBy: 'ttl' }), publicUrl: 'https://m', now: NOW });
    assert.equal(m.text, 'shop-pr-7 was destroyed — reason: expired (by ttl)');
    const by = environmentMessage({ env: env({ status: 'destroyed', destroyReason: 'destroyed', destroyedBy: 'slack:U1' }), publicUrl: 'https://m', now: NOW });
    assert.equal((by.blocks as any[])[0].text.text, ':wastebasket: *shop-pr-7* was *destroyed* — reason: destroyed (by <@U1>)');
    assert.doesNotMatch(all(m), /lease ends/);
  });

  it('when text from outside carries mentions, links or formatting, then it is shown inert', () => {
    const m = environmentMessage({ env: env({ status: 'failed', failure: { code: 'X', message: '<!channel> see <http://evil.example|here> & *now*' } }), publicUrl: 'https://m', now: NOW });
    const head = (m.blocks as any[])[0].text.text as string;
    assert.ok(head.includes('&lt;!channel&gt; see &lt;http://evil.example|here&gt; &amp; \u200b*now\u200b*'), head);
    assert.doesNotMatch(head, /<!channel>|<http:\/\/evil/);
    assert.equal(slackText('a\n\nb', 10), 'a b');
    assert.equal(slackText('x'.repeat(20), 5), 'xxxx…');
  });

  it('when it failed once and is ready again, then the last failure is still shown', () => {
    const m = environmentMessage({ env: env(), publicUrl: 'https://m', now: NOW, lastFailure: { at: NOW, code: 'HEALTH_TIMEOUT', message: 'web never answered' } });
    assert.match(all(m), /Last failure <!date\^\d+\^[^|]+\|2026-12-02T05:00:00.000Z>: `HEALTH_TIMEOUT` web never answered/);
  });
});

describe('the Slack expiry warning', () => {
  it('when the lease ends soon, then the warning has an Extend 1h and a Destroy button whose action ids name the environment', () => {
    const w = expiryWarning(env(), NOW);
    assert.equal(w.text, "shop-pr-7's lease ends at 2026-12-02T05:20:00.000Z (in 20m). Extend it by 1h or destroy it now.");
    const actions = (w.blocks as any[]).find((b) => b.type === 'actions');
    assert.deepEqual(actions.elements.map((e: any) => [e.text.text, e.action_id, e.style]), [
      ['Extend 1h', 'mayfly-extend:shop-pr-7', 'primary'],
      ['Destroy', 'mayfly-destroy:shop-pr-7', 'danger'],
    ]);
    assert.equal(actions.elements[1].confirm.confirm.text, 'Destroy', 'Destroy asks first');
    assert.equal(actionId('extend', 'a-b'), 'mayfly-extend:a-b');
    // Time left is said to the minute: the message is read minutes after it is written.
    assert.match(expiryWarning(env({ expiresAt: new Date(NOW.getTime() + 20 * 60_000 + 59_000) }), NOW).text, /\(in 20m\)/);
    assert.match(expiryWarning(env({ expiresAt: new Date(NOW.getTime() + 30_000) }), NOW).text, /\(in under 1m\)/);
  });

  it('when the lease moved or the environment went, then the closed warning has no buttons and says what happened', () => {
    const moved = warningClosed(env({ expiresAt: new Date(NOW.getTime() + 3600_000) }), 'lease extended by slack:U1: expires in 3600s');
    assert.equal(moved.text, "shop-pr-7's lease now ends at 2026-12-02T06:00:00.000Z (lease extended by slack:U1: expires in 3600s)");
    assert.doesNotMatch(all(moved), /"actions"|mayfly-extend/);
    const gone = warningClosed(env({ status: 'destroyed', destroyReason: 'destroyed', destroyedBy: 'slack:U1' }));
    assert.equal(gone.text, 'shop-pr-7 was destroyed — reason: destroyed (by slack:U1)');
    assert.doesNotMatch(all(gone), /"actions"/);
  });
});

describe('reading a Slack interaction', () => {
  const click = (over: Record<string, unknown> = {}) => ({
    type: 'block_actions', team: { id: 'T1' }, user: { id: 'U1', username: 'road.runner', team_id: 'T1' },
    channel: { id: 'C1' }, container: { type: 'message', message_ts: '1700000002.000002', channel_id: 'C1' },
    response_url: 'https://hooks.slack.com/actions/T1/1/xyz',
    actions: [{ type: 'button', action_id: 'mayfly-destroy:shop-pr-7', value: 'something-else' }], ...over,
  });
  const form = (payload: unknown) => new URLSearchParams({ payload: typeof payload === 'string' ? payload : JSON.stringify(payload) }).toString();

  it('when a Destroy button is clicked, then the verb and the name come from the action id, never from the value', () => {
    assert.deepEqual(parseInteraction(form(click())), {
      kind: 'action', verb: 'destroy', name: 'shop-pr-7', teamId: 'T1', userId: 'U1', userName: 'road.runner',
      channelId: 'C1', messageTs: '1700000002.000002', responseUrl: 'https://hooks.slack.com/actions/T1/1/xyz',
    });
    const extend = parseInteraction(form(click({ team: undefined, actions: [{ action_id: 'mayfly-extend:shop-pr-7' }], response_url: 'javascript:alert(1)' })));
    assert.equal(extend.kind === 'action' && extend.verb, 'extend');
    assert.equal(extend.kind === 'action' && extend.teamId, 'T1', 'the team from the user when the payload has no team');
    assert.equal(extend.kind === 'action' && extend.responseUrl, undefined, 'only http(s) response URLs');
  });

  it('when the payload is missing, not JSON or not an object, then an InputError names the field', () => {
    for (const [body, why] of [['', /required/], [form('{nope'), /not JSON/], [form('[1]'), /JSON object/], ['text=hello', /required/]] as const) {
      assert.throws(() => parseInteraction(body), (e: unknown) => e instanceof InputError && e.problems[0]!.field === 'payload' && why.test(e.problems[0]!.message), body);
    }
  });

  it('when the action id names no valid environment, then it is refused naming the field', () => {
    assert.throws(() => parseInteraction(form(click({ actions: [{ action_id: 'mayfly-destroy:../../etc' }] }))),
      (e: unknown) => e instanceof InputError && e.problems[0]!.field === 'actions[0].action_id');
  });

  it('when it is another kind of interaction or another app\'s button, then it is ignored, saying why', () => {
    assert.deepEqual(parseInteraction(form(click({ type: 'view_submission' }))), { kind: 'ignored', why: 'interaction type "view_submission" is not a button click' });
    assert.equal(parseInteraction(form(click({ actions: [{ action_id: 'approve:42' }] }))).kind, 'ignored');
    assert.equal(parseInteraction(form(click({ actions: [] }))).kind, 'ignored');
  });
});

describe('the Slack Web API client', () => {
  let slack: SlackStandIn;
  before(async () => { slack = await startSlackStandIn(); });
  after(async () => { await slack.close(); });

  it('when a message is posted and updated, then the calls carry the bot token, the channel, the ts, the text and the blocks', async () => {
    const client = new SlackClient(slack.url, 'xoxb-unit-token', 5000);
    const posted = await client.post('C1', { text: 'hello', blocks: [{ type: 'section' }] });
    await client.update('C1', posted.ts, { text: 'edited', blocks: [] });
    const reply = await client.post('C1', { text: 'in thread', blocks: [] }, { threadTs: posted.ts, broadcast: true });
    const calls = slack.calls;
    assert.deepEqual(calls.map((c) => [c.method, c.path]), [['POST', '/chat.postMessage'], ['POST', '/chat.update'], ['POST', '/chat.postMessage']]);
    assert.ok(calls.every((c) => c.authorization === 'Bearer xoxb-unit-token'));
    assert.deepEqual(calls[0]!.json, { channel: 'C1', text: 'hello', blocks: [{ type: 'section' }], unfurl_links: false, unfurl_media: false });
    assert.deepEqual(calls[1]!.json, { channel: 'C1', ts: posted.ts, text: 'edited', blocks: [] });
    assert.equal(calls[2]!.json.thread_ts, posted.ts);
    assert.equal(calls[2]!.json.reply_broadcast, true);
    assert.notEqual(reply.ts, posted.ts);
  });

  it('when Slack answers ok:false, then the error names the method, Slack\'s error and what to do', async () => {
    const client = new SlackClient(slack.url, 'xoxb-unit-token', 5000);
    slack.failNext('chat.postMessage', 'not_in_channel');
    await assert.rejects(client.post('C1', { text: 'x', blocks: [] }), (e: unknown) =>
      e instanceof SlackApiError && e.error === 'not_in_channel' && e.retryable && /chat\.postMessage answered not_in_channel: invite the Mayfly app/.test(e.message));
    await assert.rejects(client.update('C1', '1.000001', { text: 'x', blocks: [] }), (e: unknown) => e instanceof SlackApiError && e.error === 'message_not_found');
  });

  it('when Slack rate-limits (429 with Retry-After), then the error is ratelimited and says how long to wait', async () => {
    const client = new SlackClient(slack.url, 'xoxb-unit-token', 5000);
    slack.failNext('chat.update', 'ratelimited', 7);
    await assert.rejects(client.update('C1', '1.000001', { text: 'x', blocks: [] }), (e: unknown) =>
      e instanceof SlackApiError && e.error === 'ratelimited' && e.retryAfterMs === 7000 && e.status === 429 && /retry after 7 s/.test(e.message));
  });

  it('when a channel id or ts is malformed, then nothing is sent', async () => {
    const client = new SlackClient(slack.url, 'xoxb-unit-token', 5000);
    const before = slack.calls.length;
    await assert.rejects(client.post('#general', { text: 'x', blocks: [] }), /not a Slack channel id/);
    await assert.rejects(client.update('C1', '../x', { text: 'x', blocks: [] }), /not a Slack message timestamp/);
    assert.equal(slack.calls.length, before);
  });

  it('when Slack does not answer, then the error says so (an OutboundError, retried by the notifier)', async () => {
    const client = new SlackClient('http://127.0.0.1:9', 'xoxb-unit-token', 2000);
    await assert.rejects(client.post('C1', { text: 'x', blocks: [] }), (e: unknown) => e instanceof OutboundError && !(e instanceof SlackApiError) && /chat\.postMessage failed/.test(e.message));
  });

  it('when Retry-After is seconds or a date, then it is read in milliseconds, at most ten minutes', () => {
    assert.equal(retryAfterMs('3'), 3000);
    assert.equal(retryAfterMs('99999'), 600_000);
    assert.equal(retryAfterMs(new Date(NOW.getTime() + 5000).toUTCString(), NOW.getTime()), 5000);
    assert.equal(retryAfterMs('soon'), undefined);
    assert.equal(retryAfterMs(null), undefined);
  });
});

describe('the Slack bot settings', () => {
  it('when nothing is set, then there is no bot, the API is Slack\'s and the warning comes 15 minutes before', () => {
    const c = loadConfig({});
    assert.equal(c.doors.slackBotToken, undefined);
    assert.equal(c.doors.slackApiUrl, 'https://slack.com/api');
    assert.equal(c.doors.slackExpiryWarningMs, 15 * 60_000);
  });
  it('when they are set, then they are read, and a bad value is refused naming the variable', () => {
    const c = loadConfig({ MAYFLY_SLACK_BOT_TOKEN: 'xoxb-0123456789', MAYFLY_SLACK_API_URL: 'http://127.0.0.1:9/api/', MAYFLY_SLACK_EXPIRY_WARNING: '30m' });
    assert.equal(c.doors.slackBotToken, 'xoxb-0123456789');
    assert.equal(c.doors.slackApiUrl, 'http://127.0.0.1:9/api');
    assert.equal(c.doors.slackExpiryWarningMs, 30 * 60_000);
    assert.throws(() => loadConfig({ MAYFLY_SLACK_BOT_TOKEN: 'short' }), (e: unknown) => e instanceof ConfigError && /MAYFLY_SLACK_BOT_TOKEN/.test(e.message));
    assert.throws(() => loadConfig({ MAYFLY_SLACK_API_URL: 'ftp://x' }), (e: unknown) => e instanceof ConfigError && /MAYFLY_SLACK_API_URL/.test(e.message));
    assert.throws(() => loadConfig({ MAYFLY_SLACK_EXPIRY_WARNING: 'soon' }), (e: unknown) => e instanceof ConfigError && /MAYFLY_SLACK_EXPIRY_WARNING/.test(e.message));
  });
});
