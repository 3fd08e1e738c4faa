/** Requests signed the way Slack and GitHub sign them, for the door tests. */
import { sha256Signature, slackSignature } from '../../core/doors/signatures.js';

export const SLACK_SECRET = 'slack-signing-secret-for-tests';
export const GITHUB_SECRET = 'github-webhook-secret-for-tests';
export const CALLBACK_SECRET = 'callback-secret-for-tests';

export async function slackCommand(baseUrl: string, fields: Record<string, string>, opts: { secret?: string; timestamp?: number; tamper?: boolean; unsigned?: boolean } = {}) {
  const body = new URLSearchParams({
    token: 'ignored', team_id: 'T1', team_domain: 'qa', channel_id: 'C1', channel_name: 'qa',
    user_id: 'U1', user_name: 'road.runner', command: '/mayfly', ...fields,
  }).toString();
  const ts = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (!opts.unsigned) {
    headers['x-slack-request-timestamp'] = ts;
    headers['x-slack-signature'] = slackSignature(opts.secret ?? SLACK_SECRET, ts, body);
  }
  const sent = opts.tamper ? body.replace('road.runner', 'mallory') : body;
  const started = Date.now();
  const res = await fetch(`${baseUrl}/slack/commands`, { method: 'POST', headers, body: sent });
  const text = await res.text();
  let json: any;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, body: json, ms: Date.now() - started };
}

let deliveries = 0;
export async function githubHook(baseUrl: string, event: string, payload: unknown, opts: { secret?: string; delivery?: string; tamper?: boolean; unsigned?: boolean } = {}) {
  const body = JSON.stringify(payload);
  const delivery = opts.delivery ?? `test-${process.pid}-${Date.now()}-${++deliveries}`;
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-github-event': event, 'x-github-delivery': delivery };
  if (!opts.unsigned) headers['x-hub-signature-256'] = sha256Signature(opts.secret ?? GITHUB_SECRET, body);
  const res = await fetch(`${baseUrl}/webhooks/github`, { method: 'POST', headers, body: opts.tamper ? body.replace('"opened"', '"reopened"') : body });
  const text = await res.text();
  let json: any;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, body: json, delivery };
}

export function pullRequest(action: string, number: number, sha: string, opts: { fork?: boolean; repo?: string } = {}) {
  const repo = opts.repo ?? 'qa/shop';
  return {
    action, number,
    pull_request: {
      number, user: { login: 'octocat' },
      head: { sha, ref: `feature-${number}`, repo: { full_name: opts.fork ? 'mallory/shop' : repo } },
      base: { ref: 'main', repo: { full_name: repo } },
    },
    repository: { full_name: repo },
    sender: { login: 'octocat' },
  };
}

/** An issue_comment webhook payload: a comment by `login` on pull request (or, with `issue`, issue) `number`. */
export function prComment(number: number, body: string, login: string, opts: { repo?: string; issue?: boolean; action?: string; commentId?: number; bot?: boolean } = {}) {
  const repo = opts.repo ?? 'qa/shop';
  return {
    action: opts.action ?? 'created',
    issue: { number, ...(opts.issue ? {} : { pull_request: { url: `https://api.github.com/repos/${repo}/pulls/${number}` } }) },
    comment: { id: opts.commentId ?? 500_000 + Math.floor(Math.random() * 100_000), body, user: { login, type: opts.bot ? 'Bot' : 'User' } },
    repository: { full_name: repo },
    sender: { login },
  };
}

export const GITLAB_TOKEN = 'gitlab-webhook-token-for-tests';

/** A GitLab webhook: `X-Gitlab-Event` and `X-Gitlab-Token` (`token: null` sends none). */
export async function gitlabHook(baseUrl: string, payload: unknown, opts: { token?: string | null; event?: string } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-gitlab-event': opts.event ?? 'Merge Request Hook' };
  if (opts.token !== null) headers['x-gitlab-token'] = opts.token ?? GITLAB_TOKEN;
  const res = await fetch(`${baseUrl}/webhooks/gitlab`, { method: 'POST', headers, body: JSON.stringify(payload) });
  const text = await res.text();
  let json: any;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, body: json };
}

/** A Merge Request Hook payload: `action` on merge request `iid` of project 42 `qa/shop` (or `project`), head `sha`. */
export function mergeRequest(action: string, iid: number, sha: string, opts: { project?: { id: number; path: string }; oldrev?: string; user?: string } = {}) {
  const project = opts.project ?? { id: 42, path: 'qa/shop' };
  return {
    object_kind: 'merge_request', event_type: 'merge_request',
    user: { username: opts.user ?? 'alice' },
    project: { id: project.id, path_with_namespace: project.path },
    object_attributes: {
      iid, action, state: action === 'merge' ? 'merged' : action === 'close' ? 'closed' : 'opened',
      source_project_id: project.id, target_project_id: project.id,
      last_commit: { id: sha }, ...(opts.oldrev ? { oldrev: opts.oldrev } : {}),
    },
  };
}

/** A Slack button click (block_actions) on Mayfly's expiry warning: `verb` on environment `name` by `user`. */
export function slackClick(verb: 'extend' | 'destroy', name: string, user: string, opts: { responseUrl?: string; team?: string; channel?: string; messageTs?: string } = {}) {
  return {
    type: 'block_actions', team: { id: opts.team ?? 'T1', domain: 'qa' },
    user: { id: user, username: user.toLowerCase(), team_id: opts.team ?? 'T1' },
    channel: { id: opts.channel ?? 'C1', name: 'qa' },
    container: { type: 'message', channel_id: opts.channel ?? 'C1', message_ts: opts.messageTs ?? '1700000002.000002', is_ephemeral: false },
    ...(opts.responseUrl ? { response_url: opts.responseUrl } : {}),
    actions: [{ type: 'button', action_id: `mayfly-${verb}:${name}`, block_id: 'mayfly-expiry', value: name, action_ts: String(Date.now() / 1000) }],
  };
}

/** POST /slack/interactivity with `payload=<JSON>`, signed as Slack signs it (or not, or wrongly). */
export async function slackInteraction(baseUrl: string, payload: unknown, opts: { secret?: string; timestamp?: number; tamper?: boolean; unsigned?: boolean } = {}) {
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const ts = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (!opts.unsigned) {
    headers['x-slack-request-timestamp'] = ts;
    headers['x-slack-signature'] = slackSignature(opts.secret ?? SLACK_SECRET, ts, body);
  }
  // Tampered: another user claims the click the signature was made for.
  const sent = opts.tamper ? body.replace(/U[A-Z0-9]+/, 'UMALLORY') : body;
  const res = await fetch(`${baseUrl}/slack/interactivity`, { method: 'POST', headers, body: sent });
  const text = await res.text();
  let json: any;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, body: json };
}
