import { OutboundError, callJson, postJson } from './http-out.js';

/**
 * The little of GitHub's REST API that Mayfly uses: a commit status on the pull request's head
 * commit, the pull request's one live comment (found again by its hidden marker), deployments
 * and their statuses, and reactions to command comments. Base URL and token come from
 * configuration (MAYFLY_GITHUB_API_URL, MAYFLY_GITHUB_TOKEN), so tests point it at a local
 * stand-in and GitHub Enterprise works too. Only the worker's notifier calls it.
 */
export interface CommitStatus {
  state: 'pending' | 'success' | 'failure' | 'error';
  targetUrl?: string | null;
  description: string;
  context: string;
}

export type DeploymentState = 'in_progress' | 'success' | 'failure' | 'inactive';
export type Reaction = '+1' | 'confused';

export interface IssueComment { id: number; body: string }

/** How many pages of comments are read to find the marker (100 each). */
const MAX_COMMENT_PAGES = 10;

export function assertRepo(repo: string): void {
  if (!/^[\w.-]+\/[\w.-]+$/.test(repo)) throw new Error(`not a repository name: "${repo}"`);
}

function assertId(what: string, id: number): void {
  if (!Number.isSafeInteger(id) || id <= 0) throw new Error(`not a ${what} id: "${id}"`);
}

export class GitHubClient {
  constructor(private readonly apiUrl: string, private readonly token: string, private readonly timeoutMs: number) {}

  private get headers(): Record<string, string> {
    return { authorization: `Bearer ${this.token}`, accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28' };
  }

  private call<T>(method: 'GET' | 'POST' | 'PATCH', path: string, body?: unknown): Promise<T> {
    return callJson<T>(method, `${this.apiUrl}${path}`, body, this.headers, this.timeoutMs);
  }

  async setCommitStatus(repo: string, sha: string, status: CommitStatus): Promise<void> {
    assertRepo(repo);
    if (!/^[0-9a-f]{7,64}$/i.test(sha)) throw new Error(`not a commit: "${sha}"`);
    const body = JSON.stringify({
      state: status.state,
      ...(status.targetUrl ? { target_url: status.targetUrl } : {}),
      description: status.description.slice(0, 140),
      context: status.context,
    });
    await postJson(`${this.apiUrl}/repos/${repo}/statuses/${sha}`, body, this.headers, this.timeoutMs);
  }

  /** The first comment of the pull request whose body contains `marker`, reading at most 1,000 comments. */
  async findComment(repo: string, number: number, marker: string): Promise<IssueComment | undefined> {
    assertRepo(repo);
    assertId('pull request', number);
    for (let page = 1; page <= MAX_COMMENT_PAGES; page++) {
      const comments = await this.call<IssueComment[]>('GET', `/repos/${repo}/issues/${number}/comments?per_page=100&page=${page}`);
      if (!Array.isArray(comments)) return undefined;
      const found = comments.find((c) => typeof c.body === 'string' && c.body.includes(marker));
      if (found) return { id: found.id, body: found.body };
      if (comments.length < 100) return undefined;
    }
    return undefined;
  }

  async createComment(repo: string, number: number, body: string): Promise<number> {
    assertRepo(repo);
    assertId('pull request', number);
    const made = await this.call<{ id?: number }>('POST', `/repos/${repo}/issues/${number}/comments`, { body });
    if (!made || typeof made.id !== 'number') throw new OutboundError(`POST /repos/${repo}/issues/${number}/comments answered without a comment id`);
    return made.id;
  }

  async updateComment(repo: string, commentId: number, body: string): Promise<void> {
    assertRepo(repo);
    assertId('comment', commentId);
    await this.call('PATCH', `/repos/${repo}/issues/comments/${commentId}`, { body });
  }

  async createDeployment(repo: string, d: { ref: string; environment: string; description: string }): Promise<number> {
    assertRepo(repo);
    const made = await this.call<{ id?: number }>('POST', `/repos/${repo}/deployments`, {
      ref: d.ref, environment: d.environment, description: d.description.slice(0, 140),
      auto_merge: false, required_contexts: [], transient_environment: true, production_environment: false,
    });
    if (!made || typeof made.id !== 'number') throw new OutboundError(`POST /repos/${repo}/deployments answered without a deployment id`);
    return made.id;
  }

  async setDeploymentStatus(repo: string, deploymentId: number, s: { state: DeploymentState; environmentUrl?: string | null; logUrl: string; description: string }): Promise<void> {
    assertRepo(repo);
    assertId('deployment', deploymentId);
    await this.call('POST', `/repos/${repo}/deployments/${deploymentId}/statuses`, {
      state: s.state, log_url: s.logUrl, description: s.description.slice(0, 140),
      ...(s.environmentUrl ? { environment_url: s.environmentUrl } : {}),
    });
  }

  async react(repo: string, commentId: number, content: Reaction): Promise<void> {
    assertRepo(repo);
    assertId('comment', commentId);
    await this.call('POST', `/repos/${repo}/issues/comments/${commentId}/reactions`, { content });
  }
}
