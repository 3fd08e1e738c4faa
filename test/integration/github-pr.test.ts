/**
 * A pull request's whole life against a stand-in GitHub API on loopback that records every call:
 * opened, five pushes, a failure, commands (done and refused), closed, reopened. The notifier is
 * driven by the test (MAYFLY_NOTIFY_INTERVAL is an hour), and the worker is stopped where the
 * test needs an environment to stay queued, so the exact calls are known.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startHarness, waitUntil, type Harness } from '../helpers/harness.js';
import { startGitHubStandIn, type GitHubCall, type GitHubStandIn } from '../helpers/github-api.js';
import { GITHUB_SECRET, githubHook, prComment, pullRequest } from '../helpers/doors.js';
import { notify } from '../../worker/jobs/notify.js';
import { deliveriesOf, notifyUntilDelivered } from '../helpers/notifier.js';
import { NOTIFIED_EVENTS } from '../../core/store/notifications.js';

const REPO = 'qa/shop';
const PR = 5;
const NAME = `shop-pr-${PR}`;
const MARKER = `<!-- mayfly:env=${NAME} -->`;
const sha = () => randomBytes(20).toString('hex');
/** Commit statuses (the existing door) are asserted on their own: they are another subscription. */
const isCommitStatus = (c: GitHubCall) => /^\/repos\/qa\/shop\/statuses\/[0-9a-f]{40}$/.test(c.path);
const shape = (c: GitHubCall) => `${c.method} ${c.path}`;

describe('the pull request is the environment\'s home: one live comment, deployments, commands', () => {
  let h: Harness;
  let gh: GitHubStandIn;
  // Heads that exist in the registry (tag = the commit, MAYFLY_GITHUB_TAG=sha), and one that does not.
  const heads = Array.from({ length: 6 }, sha);
  const missing = sha();
  let commentId = 0;

  before(async () => {
    gh = await startGitHubStandIn();
    h = await startHarness({ env: {
      GITHUB_WEBHOOK_SECRET: GITHUB_SECRET, MAYFLY_GITHUB_TEMPLATE: 'shop', MAYFLY_GITHUB_API_URL: gh.url, MAYFLY_GITHUB_TAG: 'sha',
      MAYFLY_GITHUB_TOKEN: 'gh-token-for-tests', MAYFLY_NOTIFY_INTERVAL: '1h', MAYFLY_GITHUB_COMMENT_DEBOUNCE: '1s',
      MAYFLY_TEAMS: 'qa=github:octocat,github:alice;platform=github:bob',
      // The machine may be shared and busy: a slow start is not what this file tests.
      MAYFLY_HEALTH_TIMEOUT: '10m',
    } });
    const reg = h.config.registry;
    for (const tag of heads) {
      await h.docker.getImage(`${reg}/mayfly/shop:pr-1`).tag({ repo: `${reg}/mayfly/shop`, tag });
      const stream = await h.docker.getImage(`${reg}/mayfly/shop:${tag}`).push({ authconfig: { serveraddress: reg } } as object);
      await new Promise<void>((resolve, reject) => h.docker.modem.followProgress(stream, (err: Error | null, out: { error?: string }[]) => (err || out.find((o) => o.error) ? reject(err ?? new Error(out.find((o) => o.error)!.error)) : resolve())));
    }
  });
  after(async () => {
    await h.close();
    await gh.close();
    for (const tag of heads) await h.docker.getImage(`${h.config.registry}/mayfly/shop:${tag}`).remove().catch(() => undefined);
  });

  const prDeliveries = () => deliveriesOf(h, 'github-pr');
  /** Runs the notifier until the pull request's subscription delivered once more (its events must have been quiet for the debounce). */
  const deliverPr = (what: string) => notifyUntilDelivered(h, 'github-pr', `the pull request: ${what}`);
  /** Runs the notifier until every command is answered (and, with `pr`, the pull request's comment was updated once more). */
  async function deliverReplies(opts: { pr?: boolean } = {}): Promise<void> {
    const before = await prDeliveries();
    await waitUntil('the notifier to answer the commands', 30_000, async () => {
      await notify(h.ctx, h.ctx.notifications);
      return Number((await h.pool.query('SELECT count(*) FROM github_replies WHERE done_at IS NULL')).rows[0].count) === 0
        && (!opts.pr || (await prDeliveries()) > before);
    });
  }
  /** The environment once it settles (ready, failed, destroyed...): a busy shared machine may take more than one long poll. */
  async function settled(): Promise<any> {
    for (let i = 0; ; i++) {
      const res = await h.api('GET', `/api/v1/environments/${NAME}?wait=120`);
      if (['ready', 'sleeping', 'failed', 'destroyed'].includes(res.body.status) || i === 4) return res.body;
    }
  }
  const prCallsSince = (from: number) => gh.since(from).filter((c) => !isCommitStatus(c));
  const commentBody = () => gh.comments.get(`${REPO}#${PR}`)!.find((c) => c.id === commentId)!.body;

  it('when an issue_comment webhook is unsigned, tampered or signed with another secret, then it gets 401 and nothing is recorded or answered', async () => {
    const body = prComment(PR, '/mayfly destroy', 'alice');
    for (const opts of [{ unsigned: true }, { tamper: true }, { secret: 'not-the-webhook-secret' }]) {
      const res = await githubHook(h.baseUrl, 'issue_comment', opts.tamper ? { ...body, action: 'opened' } : body, opts);
      assert.equal(res.status, 401, JSON.stringify(opts));
      assert.equal(res.body.error.code, 'BAD_SIGNATURE');
    }
    assert.equal(Number((await h.pool.query('SELECT count(*) FROM github_deliveries')).rows[0].count), 0);
    assert.equal(Number((await h.pool.query('SELECT count(*) FROM github_replies')).rows[0].count), 0);
    await notify(h.ctx, h.ctx.notifications);
    assert.deepEqual(gh.calls, []);
  });

  it('when a pull request is opened and pushed to five times in a row, then one comment is created and edited in place, one deployment per head the notifier saw, and a burst is one edit', async () => {
    // Opened while no worker runs: the environment stays queued, so the first rendering is known.
    await h.stopWorker();
    const opened = await githubHook(h.baseUrl, 'pull_request', pullRequest('opened', PR, heads[0]!));
    assert.equal(opened.body.outcome, 'created', JSON.stringify(opened.body));
    let mark = gh.calls.length;
    await deliverPr('opened, queued');
    let calls = prCallsSince(mark);
    assert.deepEqual(calls.map(shape), [
      `GET /repos/${REPO}/issues/${PR}/comments?per_page=100&page=1`,
      `POST /repos/${REPO}/issues/${PR}/comments`,
      `POST /repos/${REPO}/deployments`,
      `POST /repos/${REPO}/deployments/1/statuses`,
    ]);
    assert.ok(calls.every((c) => c.authorization === 'Bearer gh-token-for-tests'));
    assert.ok(calls[1]!.json.body.startsWith(`${MARKER}\n`));
    assert.match(calls[1]!.json.body, /`shop-pr-5` is \*\*queued\*\*/);
    assert.match(calls[1]!.json.body, /\| Seed \| `demo` \|/);
    assert.match(calls[1]!.json.body, /\| Time left \| \d/);
    assert.deepEqual(calls[2]!.json, {
      ref: heads[0], environment: NAME, description: 'Mayfly environment shop-pr-5 (shop)',
      auto_merge: false, required_contexts: [], transient_environment: true, production_environment: false,
    });
    assert.equal(calls[3]!.json.state, 'in_progress');
    assert.equal(calls[3]!.json.log_url, `${h.baseUrl}/environments/${NAME}#timeline-h`);
    commentId = gh.comments.get(`${REPO}#${PR}`)![0]!.id;

    await h.startWorker();
    const ready = { body: await settled() };
    assert.equal(ready.body.status, 'ready', JSON.stringify(ready.body.failure));
    mark = gh.calls.length;
    await deliverPr('ready');
    calls = prCallsSince(mark);
    assert.deepEqual(calls.map(shape), [`PATCH /repos/${REPO}/issues/comments/${commentId}`, `POST /repos/${REPO}/deployments/1/statuses`]);
    assert.match(calls[0]!.json.body, /is \*\*ready\*\*/);
    assert.ok(calls[0]!.json.body.includes(`| Address | ${ready.body.url} |`));
    assert.match(calls[0]!.json.body, /\| web \| `127\.0\.0\.1:5000\/mayfly\/shop:[0-9a-f]{40}` \| running, healthy \|/);
    assert.deepEqual(calls[1]!.json, { state: 'success', environment_url: ready.body.url, log_url: `${h.baseUrl}/environments/${NAME}#timeline-h`, description: 'shop-pr-5 is ready' });

    // Five pushes in a row, while the worker is away: one edit and one deployment, for the last head.
    await h.stopWorker();
    for (const head of heads.slice(1)) {
      const res = await githubHook(h.baseUrl, 'pull_request', pullRequest('synchronize', PR, head));
      assert.equal(res.body.outcome, 'redeployed', JSON.stringify(res.body));
    }
    mark = gh.calls.length;
    await deliverPr('five pushes');
    calls = prCallsSince(mark);
    assert.deepEqual(calls.map(shape), [
      `PATCH /repos/${REPO}/issues/comments/${commentId}`,
      `POST /repos/${REPO}/deployments`,
      `POST /repos/${REPO}/deployments/2/statuses`,
    ]);
    assert.match(calls[0]!.json.body, new RegExp(`is \\*\\*queued\\*\\*[^]*\\| Generation \\| 6 \\(commit ${heads[5]!.slice(0, 12)}\\) \\|`));
    assert.equal((calls[1]!.json as unknown as { ref: string }).ref, heads[5]);
    assert.equal((calls[2]!.json as unknown as { state: string }).state, 'in_progress');
    await h.startWorker();
    const again = { body: await settled() };
    assert.equal(again.body.status, 'ready', JSON.stringify(again.body.failure));
    assert.equal(again.body.generation, 6);
    mark = gh.calls.length;
    await deliverPr('ready again');
    assert.deepEqual(prCallsSince(mark).map((c) => [shape(c), c.json.state ?? null]), [
      [`PATCH /repos/${REPO}/issues/comments/${commentId}`, null],
      [`POST /repos/${REPO}/deployments/2/statuses`, 'success'],
    ]);

    const all = gh.calls.filter((c) => !isCommitStatus(c));
    assert.equal(all.filter((c) => c.method === 'POST' && c.path === `/repos/${REPO}/issues/${PR}/comments`).length, 1, 'one comment, never one per push');
    assert.deepEqual(all.filter((c) => c.path === `/repos/${REPO}/deployments`).map((c) => c.json.ref), [heads[0], heads[5]], 'no deployment for the heads of the burst');
    assert.equal(gh.comments.get(`${REPO}#${PR}`)!.length, 1);
    // The existing commit status still goes to each head that became ready.
    assert.deepEqual(gh.calls.filter(isCommitStatus).map((c) => [c.path.slice(-40), c.json.state]), [[heads[0], 'success'], [heads[5], 'success']]);
  });

  it('when a push fails to deploy, then the comment shows the last failure with its reason and the deployment fails', async () => {
    const res = await githubHook(h.baseUrl, 'pull_request', pullRequest('synchronize', PR, missing));
    assert.equal(res.body.outcome, 'redeployed');
    const failed = { body: await settled() };
    assert.equal(failed.body.status, 'failed');
    const mark = gh.calls.length;
    await deliverPr('failed');
    const calls = prCallsSince(mark);
    assert.deepEqual(calls.map((c) => [shape(c), c.json.state ?? c.json.ref ?? null]), [
      [`PATCH /repos/${REPO}/issues/comments/${commentId}`, null],
      [`POST /repos/${REPO}/deployments`, missing],
      [`POST /repos/${REPO}/deployments/3/statuses`, 'failure'],
    ]);
    assert.match(calls[0]!.json.body, /is \*\*failed\*\*/);
    assert.match(calls[0]!.json.body, new RegExp(`\\*\\*Last failure\\*\\* \\([^)]+\\): \`${failed.body.failure.code}\`: `));
    assert.equal(calls[2]!.json.description, `shop-pr-5 failed: ${failed.body.failure.code}`);
  });

  it('when anyone asks for /badge/<name>.svg, then it shows the name and status only, and names that never existed or are malformed get the same unknown badge', async () => {
    const badge = async (file: string) => {
      const res = await fetch(`${h.baseUrl}/badge/${file}`); // no token, no session
      return { status: res.status, type: res.headers.get('content-type'), cache: res.headers.get('cache-control'), body: await res.text() };
    };
    const env = (await h.store.getByName(NAME))!;
    const ours = await badge(`${NAME}.svg`);
    assert.equal(ours.status, 200);
    assert.equal(ours.type, 'image/svg+xml; charset=utf-8');
    assert.match(ours.cache!, /no-cache/);
    assert.match(ours.body, /^<svg [^>]*aria-label="shop-pr-5: failed">/);
    for (const secret of [env.id, env.owner, env.failure!.code, env.images.web!, h.baseUrl, 'github']) assert.ok(!ours.body.includes(secret), `the badge does not show ${secret}`);
    const never = await badge('shop-pr-999.svg');
    assert.equal(never.status, 200);
    assert.match(never.body, /aria-label="shop-pr-999: unknown"/);
    assert.equal(never.body.replace(/shop-pr-999/g, 'NAME'), (await badge('shop-pr-998.svg')).body.replace(/shop-pr-998/g, 'NAME'), 'every unknown name looks the same');
    for (const odd of ['..%2F..%2Fetc.svg', '%3Cscript%3E.svg', 'shop-pr-5.png', 'SHOP-PR-5.svg']) {
      const res = await badge(odd);
      assert.equal(res.status, 200, odd);
      assert.match(res.body, /aria-label="mayfly: unknown"/, odd);
    }
  });

  it('when someone outside the team, on another pull request, or with an unknown command comments, then nothing changes and each gets a confused reaction and a reply saying why', async () => {
    const before = (await h.store.getByName(NAME))!;
    const asked = [
      { payload: prComment(PR, '/mayfly destroy', 'bob', { commentId: 9001 }), why: /github:bob \(team "platform"\) may not change it/ },
      { payload: prComment(PR, '/mayfly extend 2h', 'mallory', { commentId: 9002 }), why: /github:mallory is in no team \(MAYFLY_TEAMS\)/ },
      { payload: prComment(PR, '/mayfly dance', 'alice', { commentId: 9003 }), why: /unknown command "dance"/ },
      { payload: prComment(77, '/mayfly destroy', 'alice', { commentId: 9004 }), why: /this pull request has no live Mayfly environment \(`shop-pr-77`\)/ },
      { payload: prComment(PR, '/mayfly destroy', 'alice', { commentId: 9005, repo: 'qa/other' }), why: /environment "shop-pr-5" was not created for github:qa\/other#5/ },
    ];
    for (const a of asked) {
      const res = await githubHook(h.baseUrl, 'issue_comment', a.payload);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.outcome, 'refused');
      assert.match(res.body.message, a.why);
    }
    // Not commands, or not on a pull request, or edits, or bots: ignored without an answer.
    for (const payload of [prComment(PR, 'LGTM, thanks', 'alice'), prComment(PR, '/mayfly destroy', 'alice', { issue: true }),
      prComment(PR, '/mayfly destroy', 'alice', { action: 'edited' }), prComment(PR, '/mayfly destroy', 'dependabot', { bot: true })]) {
      const res = await githubHook(h.baseUrl, 'issue_comment', payload);
      assert.equal(res.status, 202);
      assert.equal(res.body.outcome, 'ignored');
    }
    const mark = gh.calls.length;
    await deliverReplies();
    const calls = prCallsSince(mark);
    const expected = asked.flatMap((a) => {
      const repo = a.payload.repository.full_name;
      return [`POST /repos/${repo}/issues/comments/${a.payload.comment.id}/reactions`, `POST /repos/${repo}/issues/${a.payload.issue.number}/comments`];
    });
    assert.deepEqual(calls.map(shape), expected);
    for (let i = 0; i < asked.length; i++) {
      assert.deepEqual(calls[2 * i]!.json, { content: 'confused' });
      assert.match(calls[2 * i + 1]!.json.body, new RegExp(`^@${asked[i]!.payload.comment.user.login} \``));
      assert.match(calls[2 * i + 1]!.json.body, asked[i]!.why);
    }
    const now = (await h.store.getByName(NAME))!;
    assert.equal(now.status, before.status);
    assert.equal(now.generation, before.generation);
    assert.equal(now.expiresAt.getTime(), before.expiresAt.getTime());
    const unheard = await h.pool.query(
      `SELECT count(*) FROM environment_events e JOIN notification_subscriptions s ON s.environment_id = e.environment_id
       WHERE s.kind = 'github-pr' AND s.active AND e.id > s.cursor AND e.type = ANY($1)`, [NOTIFIED_EVENTS['github-pr']]);
    assert.equal(Number(unheard.rows[0].count), 0,
      'no event for the live comment: it is not edited');
    const denied = await h.pool.query(`SELECT actor, action FROM audit_log WHERE outcome = 'denied' ORDER BY id`);
    assert.deepEqual(denied.rows, [{ actor: 'github:bob', action: 'environment.destroy' }]);
  });

  it('when a team member comments /mayfly extend 2h, then the lease moves, the comment gets +1 and the live comment shows the command', async () => {
    const before = (await h.store.getByName(NAME))!;
    const res = await githubHook(h.baseUrl, 'issue_comment', prComment(PR, '/mayfly extend 2h\nfor the demo', 'alice', { commentId: 9100 }));
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.outcome, 'done');
    const moved = (await h.store.getByName(NAME))!;
    assert.notEqual(moved.expiresAt.getTime(), before.expiresAt.getTime());
    const mark = gh.calls.length;
    await deliverReplies({ pr: true });
    // The reaction and the edit are separate deliveries: either may go first.
    const calls = prCallsSince(mark).sort((a, b) => a.method.localeCompare(b.method));
    assert.deepEqual(calls.map(shape), [`PATCH /repos/${REPO}/issues/comments/${commentId}`, `POST /repos/${REPO}/issues/comments/9100/reactions`]);
    assert.deepEqual(calls[1]!.json, { content: '+1' });
    assert.match(calls[0]!.json.body, new RegExp(`\\| Time left \\| [^|]+\\(until ${moved.expiresAt.toISOString().replace(/\./g, '\\.')}\\) \\|`));
    assert.match(calls[0]!.json.body, /Last command: `\/mayfly extend 2h` by github:alice: lease extended to /);
    const audit = await h.pool.query(`SELECT actor, door, outcome FROM audit_log WHERE action = 'environment.extend' ORDER BY id DESC LIMIT 1`);
    assert.deepEqual(audit.rows[0], { actor: 'github:alice', door: 'github', outcome: 'allowed' });
  });

  it('when a team member comments /mayfly redeploy, then a new generation is deployed as that member; reset-db in a state that cannot be reset is refused and changes nothing', async () => {
    const before = (await h.store.getByName(NAME))!;
    const res = await githubHook(h.baseUrl, 'issue_comment', prComment(PR, '/mayfly redeploy', 'alice', { commentId: 9200 }));
    assert.equal(res.body.outcome, 'done', JSON.stringify(res.body));
    const redeployed = (await h.store.getByName(NAME))!;
    assert.equal(redeployed.generation, before.generation + 1);
    const events = await h.pool.query(`SELECT type, message FROM environment_events WHERE environment_id = $1 AND type IN ('redeploy', 'github-command') ORDER BY id DESC LIMIT 2`, [before.id]);
    assert.deepEqual(events.rows.map((r) => r.type), ['github-command', 'redeploy']);
    assert.match(events.rows[1].message, /redeploy requested by github:alice/);
    assert.equal((await settled()).status, 'failed', 'the head is still missing from the registry');

    // While it is being redeployed again (queued), its database cannot be reset: refused, nothing changes.
    await h.stopWorker();
    await githubHook(h.baseUrl, 'issue_comment', prComment(PR, '/mayfly redeploy', 'alice', { commentId: 9201 }));
    const queued = (await h.store.getByName(NAME))!;
    assert.equal(queued.status, 'queued');
    const refused = await githubHook(h.baseUrl, 'issue_comment', prComment(PR, '/mayfly reset-db', 'alice', { commentId: 9202 }));
    assert.equal(refused.body.outcome, 'refused');
    assert.match(refused.body.message, /is queued; its database can be reset when it is ready or failed/);
    const after = (await h.store.getByName(NAME))!;
    assert.equal(after.generation, queued.generation);
    assert.equal(after.status, 'queued');
    const mark = gh.calls.length;
    await deliverReplies({ pr: true });
    const answers = prCallsSince(mark).filter((c) => c.path.endsWith('/reactions') || (c.method === 'POST' && c.path.endsWith('/comments')));
    assert.deepEqual(answers.map((c) => [shape(c), c.json.content ?? null]), [
      [`POST /repos/${REPO}/issues/comments/9200/reactions`, '+1'],
      [`POST /repos/${REPO}/issues/comments/9201/reactions`, '+1'],
      [`POST /repos/${REPO}/issues/comments/9202/reactions`, 'confused'],
      [`POST /repos/${REPO}/issues/${PR}/comments`, null],
    ]);
    await h.startWorker();
    assert.equal((await settled()).status, 'failed');
    await deliverPr('after the redeploys');
  });

  it('when the pull request is closed, then the comment says destroyed and the deployment goes inactive; reopened, the comment is found again by its marker and edited, never duplicated', async () => {
    const closed = await githubHook(h.baseUrl, 'pull_request', pullRequest('closed', PR, missing));
    assert.equal(closed.body.outcome, 'destroying');
    const gone = { body: await settled() };
    assert.equal(gone.body.status, 'destroyed');
    let mark = gh.calls.length;
    await deliverPr('destroyed');
    let calls = prCallsSince(mark);
    assert.deepEqual(calls.map((c) => [shape(c), c.json.state ?? null]), [
      [`PATCH /repos/${REPO}/issues/comments/${commentId}`, null],
      [`POST /repos/${REPO}/deployments/3/statuses`, 'inactive'],
    ]);
    assert.match(calls[0]!.json.body, /`shop-pr-5` was \*\*destroyed\*\*[^]*Reason: pull-request-closed \(by github:octocat\)/);
    assert.match(commentBody(), /was \*\*destroyed\*\*/);

    // Reopened: a new environment and a new subscription that knows no comment id; the marker finds it.
    gh.addComment(REPO, PR, 'An ordinary comment in between.', 'alice');
    await h.stopWorker();
    const reopened = await githubHook(h.baseUrl, 'pull_request', pullRequest('reopened', PR, heads[0]!));
    assert.equal(reopened.body.outcome, 'created');
    mark = gh.calls.length;
    await deliverPr('reopened');
    calls = prCallsSince(mark);
    assert.deepEqual(calls.map(shape), [
      `GET /repos/${REPO}/issues/${PR}/comments?per_page=100&page=1`,
      `PATCH /repos/${REPO}/issues/comments/${commentId}`,
      `POST /repos/${REPO}/deployments`,
      `POST /repos/${REPO}/deployments/4/statuses`,
    ]);
    assert.match(commentBody(), /is \*\*queued\*\*/);
    assert.equal(gh.calls.filter((c) => c.method === 'POST' && c.path === `/repos/${REPO}/issues/${PR}/comments` && c.json.body.startsWith(MARKER)).length, 1,
      'one live comment over the pull request\'s whole life');
    await h.startWorker();
    const env = (await h.store.getByName(NAME))!;
    const destroy = await githubHook(h.baseUrl, 'issue_comment', prComment(PR, '/mayfly destroy', 'alice', { commentId: 9300 }));
    assert.equal(destroy.body.outcome, 'done', JSON.stringify(destroy.body));
    assert.equal((await h.store.getById(env.id))!.destroyedBy, 'github:alice');
    await waitUntil('the reopened environment to go', 300_000, async () => (await h.store.getById(env.id))?.status === 'destroyed');
  });
});
