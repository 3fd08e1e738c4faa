/**
 * A merge request's life against a stand-in GitLab API on loopback that records every call:
 * refused tokens, opened, pushes (and an edit that is no push), another project's merge request,
 * closed, reopened (the note found again by its marker), merged. The notifier is driven by the
 * test (MAYFLY_NOTIFY_INTERVAL is an hour), and the worker is stopped where the test needs an
 * environment to stay queued, so the exact calls are known.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startHarness, waitUntil, type Harness } from '../helpers/harness.js';
import { startGitLabStandIn, type GitLabStandIn } from '../helpers/gitlab-api.js';
import { gitlabHook, mergeRequest } from '../helpers/doors.js';
import { notify } from '../../worker/jobs/notify.js';
import { notifyUntilDelivered } from '../helpers/notifier.js';

const IID = 7;
const NAME = `shop-mr-${IID}`;
const MARKER = `<!-- mayfly:env=${NAME} -->`;
const NOTES = `/api/v4/projects/42/merge_requests/${IID}/notes`;
const sha = () => randomBytes(20).toString('hex');
const shape = (c: { method: string; path: string }) => `${c.method} ${c.path}`;

describe('GitLab merge requests: the webhook door and one note edited in place', () => {
  let h: Harness;
  let gl: GitLabStandIn;
  const heads = Array.from({ length: 4 }, sha);
  let noteId = 0;

  before(async () => {
    gl = await startGitLabStandIn();
    h = await startHarness({ worker: false, env: {
      MAYFLY_GITLAB_WEBHOOK_TOKEN: 'gitlab-webhook-token-for-tests', MAYFLY_GITLAB_TEMPLATE: 'shop', MAYFLY_GITLAB_URL: gl.url,
      MAYFLY_GITLAB_TOKEN: 'gl-token-for-tests', MAYFLY_NOTIFY_INTERVAL: '1h', MAYFLY_GITHUB_COMMENT_DEBOUNCE: '1s',
      MAYFLY_HEALTH_TIMEOUT: '10m',
    } });
  });
  after(async () => {
    await h.close();
    await gl.close();
  });

  const deliver = (what: string) => notifyUntilDelivered(h, 'gitlab-mr', what);
  const environments = async () => Number((await h.pool.query('SELECT count(*) FROM environments')).rows[0].count);
  const noteBody = () => gl.notes.get(`42!${IID}`)!.find((n) => n.id === noteId)!.body;

  it('when the X-Gitlab-Token is missing or wrong, then it gets 401 and nothing is created or written', async () => {
    for (const token of [null, 'not-the-webhook-token', 'gitlab-webhook-token-for-test', '']) {
      const res = await gitlabHook(h.baseUrl, mergeRequest('open', IID, heads[0]!), { token });
      assert.equal(res.status, 401, String(token));
      assert.equal(res.body.error.code, 'BAD_SIGNATURE');
      assert.match(res.body.error.message, /X-Gitlab-Token/);
    }
    assert.equal(await environments(), 0);
    await notify(h.ctx, h.ctx.notifications);
    assert.deepEqual(gl.calls, []);
  });

  it('when a merge request is opened and pushed to three times (and its title edited), then one note is created and edited once for the burst', async () => {
    const opened = await gitlabHook(h.baseUrl, mergeRequest('open', IID, heads[0]!));
    assert.equal(opened.status, 202, JSON.stringify(opened.body));
    assert.deepEqual(opened.body, { status: 202, outcome: 'created', environment: NAME });
    const env = (await h.store.getByName(NAME))!;
    assert.equal(env.owner, 'gitlab:alice');
    assert.equal(env.door, 'gitlab');
    assert.equal(env.images.web, `${h.config.registry}/mayfly/shop:mr-${IID}`);
    await deliver('opened, queued');
    assert.deepEqual(gl.calls.map(shape), [`GET ${NOTES}?sort=asc&order_by=created_at&per_page=100&page=1`, `POST ${NOTES}`]);
    assert.ok(gl.calls.every((c) => c.token === 'gl-token-for-tests'), 'PRIVATE-TOKEN is MAYFLY_GITLAB_TOKEN');
    const created = gl.calls[1]!.json.body as string;
    assert.ok(created.startsWith(`${MARKER}\n`));
    assert.match(created, /`shop-mr-7` is \*\*queued\*\*/);
    assert.match(created, new RegExp(`\\| Generation \\| 1 \\(commit ${heads[0]!.slice(0, 12)}\\) \\|`));
    assert.ok(!created.includes('Commands') && !created.includes('/mayfly extend'), 'merge requests are offered no commands');
    noteId = gl.notes.get(`42!${IID}`)![0]!.id;

    const edited = await gitlabHook(h.baseUrl, mergeRequest('update', IID, heads[0]!));
    assert.equal(edited.body.outcome, 'ignored', 'an update without oldrev is no push');
    for (let i = 1; i < heads.length; i++) {
      const res = await gitlabHook(h.baseUrl, mergeRequest('update', IID, heads[i]!, { oldrev: heads[i - 1]! }));
      assert.equal(res.body.outcome, 'redeployed', JSON.stringify(res.body));
    }
    assert.equal((await h.store.getByName(NAME))!.generation, 4);
    const mark = gl.calls.length;
    await deliver('three pushes');
    assert.deepEqual(gl.calls.slice(mark).map(shape), [`PUT ${NOTES}/${noteId}`]);
    assert.match(noteBody(), new RegExp(`\\| Generation \\| 4 \\(commit ${heads[3]!.slice(0, 12)}\\) \\|`));
    assert.equal(gl.notes.get(`42!${IID}`)!.length, 1, 'one note, never one per push');
  });

  it('when another project\'s merge request has the same number, or another event comes, then nothing changes and nothing is written', async () => {
    const before = (await h.store.getByName(NAME))!;
    const other = { id: 99, path: 'qa/other' };
    for (const action of ['open', 'update', 'close', 'merge']) {
      const res = await gitlabHook(h.baseUrl, mergeRequest(action, IID, heads[0]!, { project: other, oldrev: heads[1]! }));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.outcome, 'left-alone', action);
      assert.match(res.body.message, /was not created for gitlab:qa\/other!7/);
    }
    const push = await gitlabHook(h.baseUrl, { object_kind: 'push', project: { id: 42, path_with_namespace: 'qa/shop' } }, { event: 'Push Hook' });
    assert.equal(push.status, 202);
    assert.equal(push.body.outcome, 'ignored');
    const bad = await gitlabHook(h.baseUrl, { object_kind: 'merge_request', project: { id: 42, path_with_namespace: 'qa/shop' }, object_attributes: { action: 'open' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details[0].field, 'object_attributes.iid');
    const now = (await h.store.getByName(NAME))!;
    assert.deepEqual([now.status, now.generation, now.expiresAt.getTime()], [before.status, before.generation, before.expiresAt.getTime()]);
    assert.equal(await environments(), 1);
    const mark = gl.calls.length;
    await notify(h.ctx, h.ctx.notifications);
    assert.deepEqual(gl.calls.slice(mark), []);
  });

  it('when the merge request is closed, then the environment is destroyed with that reason and the note says so; reopened, the note is found again by its marker; merged, destroyed again', async () => {
    const closed = await gitlabHook(h.baseUrl, mergeRequest('close', IID, heads[3]!, { user: 'bob' }));
    assert.deepEqual(closed.body, { status: 202, outcome: 'destroying', environment: NAME });
    await h.startWorker();
    const first = (await h.store.getByName(NAME))!;
    await waitUntil('the closed merge request\'s environment to go', 300_000, async () => (await h.store.getById(first.id))?.status === 'destroyed');
    assert.equal((await h.store.getById(first.id))!.destroyReason, 'merge-request-closed');
    let mark = gl.calls.length;
    await deliver('destroyed');
    assert.deepEqual(gl.calls.slice(mark).map(shape), [`PUT ${NOTES}/${noteId}`]);
    assert.match(noteBody(), /`shop-mr-7` was \*\*destroyed\*\*[^]*Reason: merge-request-closed \(by gitlab:bob\)/);

    // Reopened: a new environment and subscription that knows no note id; the marker finds it.
    await h.stopWorker();
    gl.addNote(42, IID, 'An ordinary note in between.');
    const reopened = await gitlabHook(h.baseUrl, mergeRequest('reopen', IID, heads[3]!));
    assert.equal(reopened.body.outcome, 'created', JSON.stringify(reopened.body));
    mark = gl.calls.length;
    await deliver('reopened');
    assert.deepEqual(gl.calls.slice(mark).map(shape), [`GET ${NOTES}?sort=asc&order_by=created_at&per_page=100&page=1`, `PUT ${NOTES}/${noteId}`]);
    assert.match(noteBody(), /is \*\*queued\*\*/);

    const merged = await gitlabHook(h.baseUrl, mergeRequest('merge', IID, heads[3]!));
    assert.equal(merged.body.outcome, 'destroying');
    await h.startWorker();
    const second = (await h.store.getByName(NAME))!;
    await waitUntil('the merged merge request\'s environment to go', 300_000, async () => (await h.store.getById(second.id))?.status === 'destroyed');
    assert.equal((await h.store.getById(second.id))!.destroyReason, 'merge-request-merged');
    mark = gl.calls.length;
    await deliver('merged');
    assert.deepEqual(gl.calls.slice(mark).map(shape), [`PUT ${NOTES}/${noteId}`]);
    assert.match(noteBody(), /Reason: merge-request-merged \(by gitlab:alice\)/);
    assert.equal(gl.calls.filter((c) => c.method === 'POST').length, 1, 'one note over the merge request\'s whole life');
    assert.equal(gl.notes.get(`42!${IID}`)!.length, 2, 'the note and the ordinary one');
  });
});
