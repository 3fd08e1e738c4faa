import { postJson } from './http-out.js';

/**
 * The little of GitHub's REST API that Mayfly uses: a commit status on the pull request's head
 * commit, linking to the environment. Base URL and token come from configuration
 * (MAYFLY_GITHUB_API_URL, MAYFLY_GITHUB_TOKEN), so tests point it at a local stand-in and
 * GitHub Enterprise works too.
 */
export interface CommitStatus {
  state: 'pending' | 'success' | 'failure' | 'error';
  targetUrl?: string | null;
  description: string;
  context: string;
}

export class GitHubClient {
  constructor(private readonly apiUrl: string, private readonly token: string, private readonly timeoutMs: number) {}

  async setCommitStatus(repo: string, sha: string, status: CommitStatus): Promise<void> {
    if (!/^[\w.-]+\/[\w.-]+$/.test(repo)) throw new Error(`not a repository name: "${repo}"`);
    if (!/^[0-9a-f]{7,64}$/i.test(sha)) throw new Error(`not a commit: "${sha}"`);
    const body = JSON.stringify({
      state: status.state,
      ...(status.targetUrl ? { target_url: status.targetUrl } : {}),
      description: status.description.slice(0, 140),
      context: status.context,
    });
    await postJson(`${this.apiUrl}/repos/${repo}/statuses/${sha}`, body, {
      authorization: `Bearer ${this.token}`,
      accept: 'application/vnd.github+json',
      'x-github-api-version': '2022-11-28',
    }, this.timeoutMs);
  }
}
