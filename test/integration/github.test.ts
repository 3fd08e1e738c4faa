import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, labeledObjects, waitUntil, type Harness } from '../helpers/harness.js';
import { startStandIn, type StandIn } from '../helpers/standin.js';
import { GITHUB_SECRET, githubHook, pullRequest } from '../helpers/doors.js';
import { GITHUB_CLAIM_EXPIRY_MS } from '../../core/store/notifications.js';

const SHA1 = 'a'.repeat(40);
const SHA2 = 'b'.repeat(40);

describe('the GitHub door: /webhooks/github', () => {
  let h: Harness;
  let gh: StandIn;
  before(async () => {
    gh = await startStandIn();
    h = await startHarness({ env: {
      GITHUB_WEBHOOK_SECRET: GITHUB_SECRET, MAYFLY_GITHUB_TEMPLATE: 'shop', MAYFLY_GITHUB_API_URL: gh.url,
      MAYFLY_GITHUB_TOKEN: 'gh-token-for-tests', MAYFLY_NOTIFY_INTERVAL: '1s',
    } });
  });
  after(async () => { await h.close(); await gh.close(); });

  const envCount = async () => Number((await h.pool.query('SELECT count(*) FROM environments')).rows[0].count);
  const deliveries = async () => Number((await h.pool.query('SELECT count(*) FROM github_deliveries')).rows[0].count);

  it('when a webhook is unsigned, tampered or signed with another secret, then it gets 401, creates nothing and is not recorded', async () => {
    for (const [what, opts] of [['unsigned', { unsigned: true }], ['tampered', { tamper: true }], ['other secret', { secret: "It's a Secret to Everybody" }]] as const) {
      const res = await githubHook(h.baseUrl, 'pull_request', pullRequest('opened', 7, SHA1), opts);
      assert.equal(res.status, 401, what);
      assert.equal(res.body.error.code, 'BAD_SIGNATURE');
    }
    assert.equal(await envCount(), 0);
    assert.equal(await deliveries(), 0);
  });

  it('when other events, other actions or a fork arrive, then they get 2xx and no environment', async () => {
    assert.equal((await githubHook(h.baseUrl, 'ping', { zen: 'Keep it logically awesome.' })).status, 200);
    const issues = await githubHook(h.baseUrl, 'issues', { action: 'opened', issue: { number: 1 } });
    assert.equal(issues.status, 202);
    assert.equal(issues.body.outcome, 'ignored');
    const labeled = await githubHook(h.baseUrl, 'pull_request', pullRequest('labeled', 8, SHA1));
    assert.equal(labeled.body.outcome, 'ignored');
    const fork = await githubHook(h.baseUrl, 'pull_request', pullRequest('opened', 9, SHA1, { fork: true }));
    assert.equal(fork.status, 202);
    assert.equal(fork.body.outcome, 'ignored-fork');
    const closedUnknown = await githubHook(h.baseUrl, 'pull_request', pullRequest('closed', 10, SHA1));
    assert.equal(closedUnknown.body.outcome, 'nothing-to-destroy');
    assert.equal(await envCount(), 0);
  });

  it('when a pull request is opened, synchronized and closed, then one environment shop-pr-1 is created, redeployed, destroyed with reason pull-request-closed, and a replayed delivery does nothing', async () => {
    const opened = await githubHook(h.baseUrl, 'pull_request', pullRequest('opened', 1, SHA1));
    assert.equal(opened.status, 202, JSON.stringify(opened.body));
    assert.equal(opened.body.outcome, 'created');
    assert.equal(opened.body.environment, 'shop-pr-1');

    const replay = await githubHook(h.baseUrl, 'pull_request', pullRequest('opened', 1, SHA1), { delivery: opened.delivery });
    assert.equal(replay.status, 200);
    assert.equal(replay.body.outcome, 'duplicate');

    const first = await h.api('GET', '/api/v1/environments/shop-pr-1?wait=120');
    assert.equal(first.body.status, 'ready', JSON.stringify(first.body.failure));
    assert.equal(first.body.door, 'github');
    assert.equal(first.body.owner, 'github:octocat');
    assert.equal(first.body.generation, 1);
    assert.equal(first.body.images.web, '127.0.0.1:5000/mayfly/shop:pr-1');
    const status1 = await waitUntil('a commit status for the first head', 30_000, async () =>
      gh.received.find((r) => r.path === `/repos/qa/shop/statuses/${SHA1}`));
    assert.equal(status1.json.state, 'success');
    assert.equal(status1.json.target_url, first.body.url);
    assert.equal(status1.headers.authorization, 'Bearer gh-token-for-tests');

    // A replay after the fact still does nothing: no redeploy, no new generation.
    const replay2 = await githubHook(h.baseUrl, 'pull_request', pullRequest('synchronize', 1, SHA2), { delivery: opened.delivery });
    assert.equal(replay2.body.outcome, 'duplicate');
    assert.equal((await h.store.getByName('shop-pr-1'))!.generation, 1);

    const sync = await githubHook(h.baseUrl, 'pull_request', pullRequest('synchronize', 1, SHA2));
    assert.equal(sync.body.outcome, 'redeployed');
    const second = await h.api('GET', '/api/v1/environments/shop-pr-1?wait=120');
    assert.equal(second.body.status, 'ready', JSON.stringify(second.body.failure));
    assert.equal(second.body.id, first.body.id, 'the same environment is redeployed');
    assert.equal(second.body.generation, 2);
    const status2 = await waitUntil('a commit status for the new head', 30_000, async () =>
      gh.received.find((r) => r.path === `/repos/qa/shop/statuses/${SHA2}`));
    assert.equal(status2.json.state, 'success');

    const closed = await githubHook(h.baseUrl, 'pull_request', { ...pullRequest('closed', 1, SHA2), pull_request: { ...pullRequest('closed', 1, SHA2).pull_request, merged: true } });
    assert.equal(closed.body.outcome, 'destroying');
    const gone = await h.api('GET', '/api/v1/environments/shop-pr-1?wait=60');
    assert.equal(gone.body.status, 'destroyed');
    assert.equal(gone.body.destroyReason, 'pull-request-closed');
    assert.equal(gone.body.destroyedBy, 'github:octocat');
    assert.deepEqual(await labeledObjects(h.docker, first.body.id), { containers: 0, networks: 0, volumes: 0 });
    const rows = await h.pool.query(`SELECT id FROM environments WHERE name = 'shop-pr-1'`);
    assert.equal(rows.rowCount, 1, 'one environment for the pull request, all along');
  });

  it('when a delivery was claimed by a process that died before finishing it, then a fresh claim still holds it, and once the claim is older than its expiry GitHub\'s redelivery is handled', async () => {
    const delivery = `test-crashed-${process.pid}-${Date.now()}`;
    // As if a web process had claimed it and died before handling it (no outcome recorded).
    assert.equal(await h.ctx.notifications.claimGithubDelivery(delivery, 'ping', null), true);

    const whileFresh = await githubHook(h.baseUrl, 'ping', { zen: 'Design for failure.' }, { delivery });
    assert.equal(whileFresh.status, 200);
    assert.equal(whileFresh.body.outcome, 'duplicate', 'a claim younger than its expiry may still be in hand: not handled twice');

    await h.pool.query(`UPDATE github_deliveries SET received_at = now() - ($2::int * interval '1 millisecond') WHERE delivery_id = $1`,
      [delivery, GITHUB_CLAIM_EXPIRY_MS + 1000]);
    const redelivered = await githubHook(h.baseUrl, 'ping', { zen: 'Design for failure.' }, { delivery });
    assert.equal(redelivered.status, 200, JSON.stringify(redelivered.body));
    assert.equal(redelivered.body.outcome, 'pong', 'the expired claim is taken again and handled');
    const { rows } = await h.pool.query('SELECT outcome FROM github_deliveries WHERE delivery_id = $1', [delivery]);
    assert.equal(rows[0].outcome, 'pong', 'and finished this time');

    const replay = await githubHook(h.baseUrl, 'ping', { zen: 'Design for failure.' }, { delivery });
    assert.equal(replay.body.outcome, 'duplicate', 'a finished delivery is never claimed again, however old');
    await h.pool.query(`UPDATE github_deliveries SET received_at = now() - interval '1 day' WHERE delivery_id = $1`, [delivery]);
    assert.equal(await h.ctx.notifications.claimGithubDelivery(delivery, 'ping', null), false);
  });

  it('when a pull request event names an environment the door did not create for that pull request, then it is left alone and the delivery says why', async () => {
    // Someone created shop-pr-41 by hand (REST), and another repository's pull request 42 has an environment.
    const byHand = await h.api('PUT', '/api/v1/environments/shop-pr-41', { template: 'shop', tag: 'main' });
    assert.equal(byHand.status, 202, JSON.stringify(byHand.body));
    const other = await githubHook(h.baseUrl, 'pull_request', pullRequest('opened', 42, SHA1, { repo: 'qa/other' }));
    assert.equal(other.body.outcome, 'created');
    const before41 = (await h.store.getByName('shop-pr-41'))!;
    const before42 = (await h.store.getByName('shop-pr-42'))!;

    for (const [action, number] of [['synchronize', 41], ['closed', 41], ['synchronize', 42], ['closed', 42]] as const) {
      const res = await githubHook(h.baseUrl, 'pull_request', pullRequest(action, number, SHA2));
      assert.equal(res.status, 200, `${action} #${number}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.outcome, 'left-alone', `${action} #${number}`);
      assert.match(res.body.message, new RegExp(`"shop-pr-${number}" was not created for github:qa/shop#${number}`));
    }
    const after41 = (await h.store.getByName('shop-pr-41'))!;
    const after42 = (await h.store.getByName('shop-pr-42'))!;
    assert.equal(after41.generation, before41.generation, 'not redeployed');
    assert.equal(after42.generation, before42.generation, 'not redeployed');
    assert.notEqual(after41.status, 'destroying');
    assert.notEqual(after42.status, 'destroying');
    assert.equal(after42.origin, 'github:qa/other#42');

    // Its own repository's pull request 42 still reaches the environment it created.
    const closed = await githubHook(h.baseUrl, 'pull_request', pullRequest('closed', 42, SHA2, { repo: 'qa/other' }));
    assert.equal(closed.body.outcome, 'destroying');
    assert.equal((await h.api('DELETE', '/api/v1/environments/shop-pr-41')).status, 202);
  });
});
