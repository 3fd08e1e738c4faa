/**
 * A stand-in for GitHub's REST API on 127.0.0.1 that records every call (method, path, JSON
 * body) and keeps what Mayfly writes: issue comments (listed, created, edited), deployments and
 * their statuses, reactions, commit statuses. Tests assert the exact calls.
 */
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:http';

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
  const calls: GitHubCall[] = [];
  const comments = new Map<string, { id: number; body: string; user: string }[]>();
  let nextId = 1000;
  let nextDeployment = 1;
  const addComment = (repo: string, number: number, body: string, user = 'someone') => {
    const key = `${repo}#${number}`;
    const id = ++nextId;
    comments.set(key, [...(comments.get(key) ?? []), { id, body, user }]);
    return id;
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let json: any;
      try { json = raw ? JSON.parse(raw) : undefined; } catch { json = undefined; }
      const path = req.url ?? '';
      calls.push({ method: req.method ?? '', path, json, authorization: req.headers.authorization });
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const u = new URL(path, 'http://stand-in');
      let m: RegExpExecArray | null;
      if (req.method === 'GET' && (m = /^\/repos\/([^/]+\/[^/]+)\/issues\/(\d+)\/comments$/.exec(u.pathname))) {
        const all = comments.get(`${m[1]}#${m[2]}`) ?? [];
        const per = Number(u.searchParams.get('per_page') ?? 30);
        const page = Number(u.searchParams.get('page') ?? 1);
        return send(200, all.slice((page - 1) * per, page * per).map((c) => ({ id: c.id, body: c.body, user: { login: c.user } })));
      }
      if (req.method === 'POST' && (m = /^\/repos\/([^/]+\/[^/]+)\/issues\/(\d+)\/comments$/.exec(u.pathname))) {
        const id = addComment(m[1]!, Number(m[2]), String(json?.body ?? ''), 'mayfly[bot]');
        return send(201, { id, body: json?.body });
      }
      if (req.method === 'PATCH' && (m = /^\/repos\/([^/]+\/[^/]+)\/issues\/comments\/(\d+)$/.exec(u.pathname))) {
        for (const list of comments.values()) {
          const c = list.find((x) => x.id === Number(m![2]));
          if (c) {
            c.body = String(json?.body ?? '');
            return send(200, { id: c.id, body: c.body });
          }
        }
        return send(404, { message: 'Not Found' });
      }
      if (req.method === 'POST' && /^\/repos\/[^/]+\/[^/]+\/issues\/comments\/\d+\/reactions$/.test(u.pathname)) return send(201, { id: 1, content: json?.content });
      if (req.method === 'POST' && /^\/repos\/[^/]+\/[^/]+\/deployments$/.test(u.pathname)) return send(201, { id: nextDeployment++ });
      if (req.method === 'POST' && /^\/repos\/[^/]+\/[^/]+\/deployments\/\d+\/statuses$/.test(u.pathname)) return send(201, { id: 1, state: json?.state });
      if (req.method === 'POST' && /^\/repos\/[^/]+\/[^/]+\/statuses\/[0-9a-f]+$/.test(u.pathname)) return send(201, { id: 1 });
      send(404, { message: 'Not Found' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls, comments, addComment,
    since: (from) => calls.slice(from),
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
