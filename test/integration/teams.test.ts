import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHarness, uniqueName, type Harness } from '../helpers/harness.js';
import { GITHUB_SECRET, SLACK_SECRET, githubHook, pullRequest, slackCommand } from '../helpers/doors.js';

const QA = 'qa-secret-0123456789';
const PLATFORM = 'platform-secret-0123456789';
const ROOT = 'root-secret-0123456789';
const as = (secret: string) => ({ Authorization: `Bearer ${secret}` });

/**
 * Teams (MAYFLY_TEAMS) and admins (MAYFLY_ADMINS), through REST and Slack. No worker runs:
 * what is checked is who may change what, and that a refusal changes nothing.
 */
describe('teams and authorization', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({
      worker: false,
      env: {
        MAYFLY_API_TOKENS: `alice:${QA},bob:${PLATFORM},root:${ROOT}`,
        MAYFLY_TEAMS: 'qa=alice,slack:U3;platform=bob,slack:U2',
        SLACK_TEAM_IDS: 'T1',
        MAYFLY_ADMINS: 'root',
        SLACK_SIGNING_SECRET: SLACK_SECRET,
      },
    });
  });
  after(async () => { await h.close(); });

  const row = async (name: string) => (await h.pool.query('SELECT status, team, owner, expires_at, generation, images FROM environments WHERE name = $1 AND status <> $2', [name, 'destroyed'])).rows[0];
  const create = async (secret: string, name: string) => {
    const res = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop', ttl: '1h' }, as(secret));
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body;
  };

  it("when a token creates an environment, then it records the token's team; the list shows it and filters by ?team=", async () => {
    const a = uniqueName('qa-env');
    const b = uniqueName('pf-env');
    assert.equal((await create(QA, a)).team, 'qa');
    assert.equal((await create(PLATFORM, b)).team, 'platform');
    const qa = await h.api('GET', '/api/v1/environments?team=qa', undefined, as(PLATFORM));
    assert.equal(qa.status, 200);
    assert.ok(qa.body.environments.some((e: { name: string }) => e.name === a));
    assert.ok(qa.body.environments.every((e: { team: string }) => e.team === 'qa'));
    const all = await h.api('GET', '/api/v1/environments', undefined, as(QA));
    assert.ok(all.body.environments.some((e: { name: string; team: string }) => e.name === b && e.team === 'platform'));
  });

  it("when a token of another team extends, resets, destroys or redeploys an environment, then 403 FORBIDDEN names it and its team, and nothing changes", async () => {
    const name = uniqueName('qa-owned');
    await create(QA, name);
    const before = await row(name);
    const attempts: [string, string, unknown][] = [
      ['POST', `/api/v1/environments/${name}/extend`, { ttl: '2h' }],
      ['POST', `/api/v1/environments/${name}/reset-db`, undefined],
      ['DELETE', `/api/v1/environments/${name}`, undefined],
      ['PUT', `/api/v1/environments/${name}`, { template: 'shop', tag: 'pr-2', ttl: '3h' }],
    ];
    for (const [method, path, body] of attempts) {
      const res = await h.api(method, path, body, as(PLATFORM));
      assert.equal(res.status, 403, `${method} ${path}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, 'FORBIDDEN');
      assert.match(res.body.error.message, new RegExp(`"${name}" belongs to team "qa"`));
    }
    assert.deepEqual(await row(name), before, 'the record is unchanged');
    const events = (await h.api('GET', `/api/v1/environments/${name}/events`, undefined, as(PLATFORM))).body.events;
    assert.deepEqual(events.map((e: { type: string }) => e.type), ['requested']);
  });

  it('when its own team or an admin acts, then it is allowed', async () => {
    const name = uniqueName('qa-shared');
    await create(QA, name);
    const ext = await h.api('POST', `/api/v1/environments/${name}/extend`, { ttl: '2h' }, as(QA));
    assert.equal(ext.status, 200, JSON.stringify(ext.body));
    const redeploy = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop', tag: 'pr-2' }, as(ROOT));
    assert.equal(redeploy.status, 202, JSON.stringify(redeploy.body));
    assert.equal(redeploy.body.team, 'qa', 'an admin redeploying keeps the team');
    const del = await h.api('DELETE', `/api/v1/environments/${name}`, undefined, as(ROOT));
    assert.equal(del.status, 202, JSON.stringify(del.body));
    assert.equal(del.body.destroyedBy, 'root');
  });

  it('when a Slack user of another team extends or tears down, then Slack is told no and nothing changes; their own team may', async () => {
    const name = uniqueName('slack-qa');
    await create(QA, name);
    const before = await row(name);
    const ben = { user_id: 'U2', user_name: 'ben' };
    const down = await slackCommand(h.baseUrl, { text: `down ${name}`, ...ben });
    assert.equal(down.status, 200);
    assert.match(down.body.text, /belongs to team "qa"/);
    const extend = await slackCommand(h.baseUrl, { text: `extend ${name} 2h`, ...ben });
    assert.match(extend.body.text, /belongs to team "qa"/);
    assert.deepEqual(await row(name), before);

    const ann = { user_id: 'U3', user_name: 'ann' };
    const ok = await slackCommand(h.baseUrl, { text: `extend ${name} 2h`, ...ann });
    assert.match(ok.body.text, /now expires in 2h/);
    const gone = await slackCommand(h.baseUrl, { text: `down ${name}`, ...ann });
    assert.match(gone.body.text, /Tearing down/);
    assert.equal((await row(name)).status, 'destroying');
  });

  it('when a Slack user renames themselves to a member of another team, then no rights move: Mayfly goes by the user id', async () => {
    const name = uniqueName('slack-rename');
    await create(QA, name);
    const before = await row(name);
    // ben (U2, team platform) takes ann's display name; ann is U3 in team qa.
    const renamed = { user_id: 'U2', user_name: 'ann' };
    const down = await slackCommand(h.baseUrl, { text: `down ${name}`, ...renamed });
    assert.match(down.body.text, /belongs to team "qa"; slack:U2 \(team "platform"\)/);
    const extend = await slackCommand(h.baseUrl, { text: `extend ${name} 2h`, ...renamed });
    assert.match(extend.body.text, /belongs to team "qa"/);
    assert.deepEqual(await row(name), before);
  });

  it('when a Slack command comes from another workspace, then it is refused with a clear answer and changes nothing', async () => {
    const name = uniqueName('slack-ws');
    await create(QA, name);
    const before = await row(name);
    const res = await slackCommand(h.baseUrl, { text: `down ${name}`, team_id: 'T999', user_id: 'U3', user_name: 'ann' });
    assert.equal(res.status, 200);
    assert.match(res.body.text, /workspace T999 may not use it/);
    assert.deepEqual(await row(name), before);
    const up = await slackCommand(h.baseUrl, { text: 'up shop pr-77', team_id: 'T999', user_id: 'U3' });
    assert.match(up.body.text, /may not use it/);
    assert.equal(await row('shop-pr-77'), undefined);
  });

  it("when a Slack user runs up for another team's environment name, then it is refused; their own is created in their team", async () => {
    const ben = { user_id: 'U2', user_name: 'ben' };
    const up = await slackCommand(h.baseUrl, { text: 'up shop pr-9', ...ben });
    assert.match(up.body.text, /Creating \*shop-pr-9\*/);
    assert.equal((await row('shop-pr-9')).team, 'platform');
    const ann = await slackCommand(h.baseUrl, { text: 'up shop pr-9', user_id: 'U3', user_name: 'ann' });
    assert.match(ann.body.text, /Cannot deploy \*shop-pr-9\*: .*belongs to team "platform"/);
    const rest = await h.api('PUT', '/api/v1/environments/shop-pr-9', { template: 'shop', tag: 'pr-10' }, as(QA));
    assert.equal(rest.status, 403);
  });

  it("when the CLI of another team runs down or extend, then it exits 1 with FORBIDDEN (not 4: the token is fine)", async () => {
    const name = uniqueName('qa-cli');
    await create(QA, name);
    const shim = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/mayfly.js');
    const run = (args: string[]) => new Promise<{ code: number; stderr: string }>((resolve) => {
      const { MAYFLY_URL: _u, MAYFLY_TOKEN: _t, ...rest } = process.env;
      execFile(process.execPath, [shim, ...args], { env: { ...rest, MAYFLY_URL: h.baseUrl, MAYFLY_TOKEN: PLATFORM }, timeout: 120_000 },
        (err, _stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr: String(stderr) }));
    });
    for (const args of [['down', name], ['extend', name, '2h']]) {
      const res = await run(args);
      assert.equal(res.code, 1, `${args.join(' ')}: ${res.stderr}`);
      assert.match(res.stderr, /FORBIDDEN: environment ".*" belongs to team "qa"/);
    }
    assert.equal((await row(name)).status, 'queued');
  });

  it('when an environment was made before teams (team column default), then it belongs to "default" and only admins or default-team principals may change it', async () => {
    const name = uniqueName('legacy');
    await create(QA, name);
    await h.pool.query(`UPDATE environments SET team = DEFAULT WHERE name = $1`, [name]);
    assert.equal((await h.api('POST', `/api/v1/environments/${name}/extend`, { ttl: '2h' }, as(QA))).status, 403);
    assert.equal((await h.api('POST', `/api/v1/environments/${name}/extend`, { ttl: '2h' }, as(ROOT))).status, 200);
  });
});

describe('body size limits, one test per door', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ worker: false, env: { SLACK_SIGNING_SECRET: SLACK_SECRET, GITHUB_WEBHOOK_SECRET: GITHUB_SECRET, MAYFLY_GITHUB_TEMPLATE: 'shop' } });
  });
  after(async () => { await h.close(); });
  const count = async () => Number((await h.pool.query('SELECT count(*) FROM environments')).rows[0].count);
  const tooLarge = (res: { status: number; body: any }, kb: number) => {
    assert.equal(res.status, 413, JSON.stringify(res.body).slice(0, 300));
    assert.equal(res.body.error.code, 'PAYLOAD_TOO_LARGE');
    assert.match(res.body.error.message, new RegExp(`${kb} kB`));
  };

  it('when a REST JSON body is over 64 kB (declared or chunked), then 413 names the limit and nothing is created', async () => {
    const big = { template: 'shop', name: 'big-one', padding: 'x'.repeat(70 * 1024) };
    tooLarge(await h.api('PUT', '/api/v1/environments/big-one', big), 64);
    // Chunked (no Content-Length): the JSON parser stops at the limit.
    const stream = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode(JSON.stringify(big))); c.close(); } });
    const res = await fetch(`${h.baseUrl}/api/v1/environments/big-one`, {
      method: 'PUT', body: stream, duplex: 'half', headers: { Authorization: 'Bearer test-secret-0123456789', 'content-type': 'application/json' },
    } as RequestInit);
    tooLarge({ status: res.status, body: await res.json() }, 64);
    assert.equal(await count(), 0);
  });

  it('when an urlencoded form over 64 kB is posted to the REST API, then 413 before it is read', async () => {
    const res = await fetch(`${h.baseUrl}/api/v1/environments`, {
      method: 'POST', body: `template=shop&padding=${'x'.repeat(70 * 1024)}`,
      headers: { Authorization: 'Bearer test-secret-0123456789', 'content-type': 'application/x-www-form-urlencoded' },
    });
    tooLarge({ status: res.status, body: await res.json() }, 64);
    assert.equal(await count(), 0);
  });

  it('when a Slack command body is over 64 kB, then 413 and nothing is created', async () => {
    const res = await slackCommand(h.baseUrl, { text: `up shop ${'x'.repeat(70 * 1024)}` });
    tooLarge(res, 64);
    assert.equal(await count(), 0);
  });

  it('when a GitHub webhook body is over 1 MB, then 413 and nothing is created', async () => {
    const payload = { ...pullRequest('opened', 77, 'a'.repeat(40)), padding: 'x'.repeat(1100 * 1024) };
    const res = await githubHook(h.baseUrl, 'pull_request', payload);
    tooLarge(res, 1024);
    assert.equal(await count(), 0);
    const seen = Number((await h.pool.query('SELECT count(*) FROM github_deliveries')).rows[0].count);
    assert.equal(seen, 0, 'the delivery is not recorded');
  });
});
