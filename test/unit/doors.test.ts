import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sha256Signature, slackSignature, verifySha256Signature, verifySlackRequest } from '../../core/doors/signatures.js';
import { parseSlackCommand, slackEnvironmentName, slugify } from '../../core/doors/slack-command.js';
import { NAME_PATTERN } from '../../core/doors/requests.js';
import { ConfigError, loadConfig } from '../../core/config/config.js';

const SLACK_SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const SLACK_TS = '1531420618';
const SLACK_BODY = 'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
const SLACK_SIG = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503';

describe('Slack request signatures', () => {
  it("when signing Slack's published test vector, then the signature is Slack's", () => {
    assert.equal(slackSignature(SLACK_SECRET, SLACK_TS, SLACK_BODY), SLACK_SIG);
  });
  it('when the vector is verified at its own time, then it is accepted', () => {
    assert.equal(verifySlackRequest(SLACK_SECRET, SLACK_TS, SLACK_SIG, Buffer.from(SLACK_BODY), Number(SLACK_TS) + 10), 'ok');
  });
  it('when one byte of the body changes, then it is a mismatch', () => {
    assert.equal(verifySlackRequest(SLACK_SECRET, SLACK_TS, SLACK_SIG, SLACK_BODY.replace('roadrunner', 'roadrunnex'), Number(SLACK_TS)), 'mismatch');
  });
  it('when the timestamp is more than five minutes old or in the future, then it is stale', () => {
    assert.equal(verifySlackRequest(SLACK_SECRET, SLACK_TS, SLACK_SIG, SLACK_BODY, Number(SLACK_TS) + 301), 'stale');
    assert.equal(verifySlackRequest(SLACK_SECRET, SLACK_TS, SLACK_SIG, SLACK_BODY, Number(SLACK_TS) - 301), 'stale');
    assert.equal(verifySlackRequest(SLACK_SECRET, SLACK_TS, SLACK_SIG, SLACK_BODY, Number(SLACK_TS) + 299), 'ok');
  });
  it('when headers are missing or the signature has another length, then it is refused', () => {
    assert.equal(verifySlackRequest(SLACK_SECRET, undefined, SLACK_SIG, SLACK_BODY, Number(SLACK_TS)), 'missing');
    assert.equal(verifySlackRequest(SLACK_SECRET, SLACK_TS, undefined, SLACK_BODY, Number(SLACK_TS)), 'missing');
    assert.equal(verifySlackRequest(SLACK_SECRET, SLACK_TS, 'v0=abc', SLACK_BODY, Number(SLACK_TS)), 'mismatch');
    assert.equal(verifySlackRequest('another-secret', SLACK_TS, SLACK_SIG, SLACK_BODY, Number(SLACK_TS)), 'mismatch');
  });
});

describe('GitHub and callback signatures', () => {
  it("when signing GitHub's published test vector, then the signature is GitHub's", () => {
    const sig = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
    assert.equal(sha256Signature("It's a Secret to Everybody", 'Hello, World!'), sig);
    assert.ok(verifySha256Signature("It's a Secret to Everybody", sig, Buffer.from('Hello, World!')));
  });
  it('when the body, the secret or the header differ, then verification fails', () => {
    const sig = sha256Signature('secret-one', '{"a":1}');
    assert.ok(!verifySha256Signature('secret-one', sig, '{"a":2}'));
    assert.ok(!verifySha256Signature('secret-two', sig, '{"a":1}'));
    assert.ok(!verifySha256Signature('secret-one', undefined, '{"a":1}'));
    assert.ok(!verifySha256Signature('secret-one', sig.toUpperCase(), '{"a":1}'));
  });
});

describe('the Slack command text', () => {
  it('when up has a template, a tag, a ttl and a seed, then each is read', () => {
    assert.deepEqual(parseSlackCommand('up shop pr-42 ttl=2h seed=demo'), { kind: 'up', template: 'shop', tag: 'pr-42', images: {}, ttl: '2h', seed: 'demo' });
  });
  it('when up has service=tag pairs, then they become images', () => {
    assert.deepEqual(parseSlackCommand('  up shop web=pr-2  '), { kind: 'up', template: 'shop', images: { web: 'pr-2' } });
  });
  it('when up has two bare tags or no template, then it answers with usage', () => {
    assert.equal(parseSlackCommand('up shop pr-1 pr-2').kind, 'usage');
    assert.equal(parseSlackCommand('up').kind, 'usage');
    assert.equal(parseSlackCommand('up ttl=2h').kind, 'usage');
    assert.equal(parseSlackCommand('up shop =x').kind, 'usage');
  });
  it('when the other subcommands are given, then they are read, and wrong arity is usage', () => {
    assert.deepEqual(parseSlackCommand('list'), { kind: 'list' });
    assert.deepEqual(parseSlackCommand('status shop-pr-1'), { kind: 'status', name: 'shop-pr-1' });
    assert.deepEqual(parseSlackCommand('extend shop-pr-1 2h'), { kind: 'extend', name: 'shop-pr-1', ttl: '2h' });
    assert.deepEqual(parseSlackCommand('DOWN shop-pr-1'), { kind: 'down', name: 'shop-pr-1' });
    assert.deepEqual(parseSlackCommand(''), { kind: 'help' });
    assert.equal(parseSlackCommand('extend shop-pr-1').kind, 'usage');
    assert.equal(parseSlackCommand('status').kind, 'usage');
    assert.equal(parseSlackCommand('launch the rockets').kind, 'usage');
  });
  it('when names are derived, then they are <template>-<slug> and always valid', () => {
    const up = (text: string) => parseSlackCommand(text) as Extract<ReturnType<typeof parseSlackCommand>, { kind: 'up' }>;
    assert.equal(slackEnvironmentName(up('up shop pr-42'), 'road.runner'), 'shop-pr-42');
    assert.equal(slackEnvironmentName(up('up shop Feature_X.1'), 'u'), 'shop-feature-x-1');
    assert.equal(slackEnvironmentName(up('up shop'), 'Road.Runner'), 'shop-road-runner');
    assert.equal(slackEnvironmentName(up('up shop web=pr-2'), 'u'), 'shop-pr-2');
    assert.equal(slackEnvironmentName(up('up shop'), '___'), 'shop-env');
    const long = slackEnvironmentName(up(`up shop ${'a-'.repeat(60)}`), 'u');
    assert.ok(NAME_PATTERN.test(long) && long.length <= 63 && !long.endsWith('-'), long);
    assert.equal(slugify('--A  b--'), 'a-b');
  });
});

describe('configuration of the doors', () => {
  it('when nothing is set, then the doors are closed and the defaults hold', () => {
    const c = loadConfig({});
    assert.equal(c.doors.slackSigningSecret, undefined);
    assert.equal(c.doors.githubWebhookSecret, undefined);
    assert.equal(c.doors.expiryWarningMs, 15 * 60_000);
    assert.equal(c.doors.githubTag, 'pr');
    assert.equal(c.doors.githubApiUrl, 'https://api.github.com');
    assert.equal(c.doors.gitlabTag, 'mr');
    assert.equal(c.doors.gitlabUrl, 'https://gitlab.com');
    assert.equal(c.doors.gitlabWebhookToken, undefined);
    assert.ok(Object.isFrozen(c.doors));
  });
  it('when a value is wrong, then the error names the variable', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ MAYFLY_EXPIRY_WARNING: 'soon' }, /MAYFLY_EXPIRY_WARNING/],
      [{ MAYFLY_GITHUB_TAG: 'branch' }, /MAYFLY_GITHUB_TAG/],
      [{ GITHUB_WEBHOOK_SECRET: 'long-enough-secret' }, /MAYFLY_GITHUB_TEMPLATE/],
      [{ MAYFLY_GITHUB_API_URL: 'ftp://x' }, /MAYFLY_GITHUB_API_URL/],
      [{ MAYFLY_CALLBACK_SECRET: 'short' }, /MAYFLY_CALLBACK_SECRET/],
      [{ MAYFLY_GITHUB_ALLOW_FORKS: 'maybe' }, /MAYFLY_GITHUB_ALLOW_FORKS/],
      [{ MAYFLY_GITLAB_WEBHOOK_TOKEN: 'long-enough-token' }, /MAYFLY_GITLAB_TEMPLATE/],
      [{ MAYFLY_GITLAB_WEBHOOK_TOKEN: 'short', MAYFLY_GITLAB_TEMPLATE: 'shop' }, /MAYFLY_GITLAB_WEBHOOK_TOKEN/],
      [{ MAYFLY_GITLAB_TAG: 'branch' }, /MAYFLY_GITLAB_TAG/],
      [{ MAYFLY_GITLAB_URL: 'ftp://x' }, /MAYFLY_GITLAB_URL/],
    ];
    for (const [env, re] of cases) assert.throws(() => loadConfig(env), (e: unknown) => e instanceof ConfigError && re.test(e.message), JSON.stringify(env));
  });
});
