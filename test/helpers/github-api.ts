/**
 * A stand-in for GitHub's REST API on 127.0.0.1 that records every call (method, path, JSON
 * body) and keeps what Mayfly writes: issue comments (listed, created, edited), deployments and
 * their statuses, reactions, commit statuses. Tests assert the exact calls.
 */
import { startApiStandIn } from './standin.js';

export interface GitHubCall {
  method: string;
  /** Path and query, as sent. */
  path: string;
  json: any;
  authorization: string | undefined;
}

export interface GitHubStandIn {
  url: string;
  calls: GitHubCall[];
  /** Comments by issue number key `<owner>/<repo>#<n>`, in order. */
  comments: Map<string, { id: number; body: string; user: string }[]>;
  /** Adds a comment as if someone had written it (ids are unique across issues). */
  addComment(repo: string, number: number, body: string, user?: string): number;
  /** The calls since `from` (an index into calls), without the query string when `bare`. */
  since(from: number): GitHubCall[];
  close(): Promise<void>;
}

export async function startGitHubStandIn(): Promise<GitHubStandIn> {
  const comments = new Map<string, { id: number; body: string; user: string }[]>();
  let nextId = 1000;
  let nextDeployment = 1;
  const addComment = (repo: string, number: number, body: string, user = 'someone') => {
    const key = `${repo}#${number}`;
    const id = ++nextId;
    comments.set(key, [...(comments.get(key) ?? []), { id, body, user }]);
    return id;
  };
  const api = await startApiStandIn((call, u): [number, unknown] => {
    const json = call.json;
    let m: RegExpExecArray | null;
    if (call.method === 'GET' && (m = /^\/repos\/([^/]+\/[^/]+)\/issues\/(\d+)\/comments$/.exec(u.pathname))) {
      const all = comments.get(`${m[1]}#${m[2]}`) ?? [];
      const per = Number(u.searchParams.get('per_page') ?? 30);
      const page = Number(u.searchParams.get('page') ?? 1);
      return [200, all.slice((page - 1) * per, page * per).map((c) => ({ id: c.id, body: c.body, user: { login: c.user } }))];
    }
    if (call.method === 'POST' && (m = /^\/repos\/([^/]+\/[^/]+)\/issues\/(\d+)\/comments$/.exec(u.pathname))) {
      const id = addComment(m[1]!, Number(m[2]), String(json?.body ?? ''), 'mayfly[bot]');
      return [201, { id, body: json?.body }];
    }
    if (call.method === 'PATCH' && (m = /^\/repos\/([^/]+\/[^/]+)\/issues\/comments\/(\d+)$/.exec(u.pathname))) {
      for (const list of comments.values()) {
        const c = list.find((x) => x.id === Number(m![2]));
        if (c) {
          c.body = String(json?.body ?? '');
          return [200, { id: c.id, body: c.body }];
        }
      }
      return [404, { message: 'Not Found' }];
    }
    if (call.method === 'POST' && /^\/repos\/[^/]+\/[^/]+\/issues\/comments\/\d+\/reactions$/.test(u.pathname)) return [201, { id: 1, content: json?.content }];
    if (call.method === 'POST' && /^\/repos\/[^/]+\/[^/]+\/deployments$/.test(u.pathname)) return [201, { id: nextDeployment++ }];
    if (call.method === 'POST' && /^\/repos\/[^/]+\/[^/]+\/deployments\/\d+\/statuses$/.test(u.pathname)) return [201, { id: 1, state: json?.state }];
    if (call.method === 'POST' && /^\/repos\/[^/]+\/[^/]+\/statuses\/[0-9a-f]+$/.test(u.pathname)) return [201, { id: 1 }];
    return [404, { message: 'Not Found' }];
  });
  const calls = (): GitHubCall[] => api.calls.map((c) => ({ method: c.method, path: c.path, json: c.json, authorization: c.headers.authorization }));
  return {
    url: api.url, comments, addComment, close: api.close,
    get calls() { return calls(); },
    since: (from) => calls().slice(from),
  };
}
