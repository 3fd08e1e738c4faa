/**
 * A stand-in for GitLab's REST API (v4) on 127.0.0.1 that records every call (method, path,
 * JSON body, PRIVATE-TOKEN) and keeps a merge request's notes (listed, created, edited). Tests
 * assert the exact calls.
 */
import { startApiStandIn } from './standin.js';

export interface GitLabCall { method: string; path: string; json: any; token: string | undefined }

export interface GitLabStandIn {
  url: string;
  calls: GitLabCall[];
  /** Notes by `<project id>!<iid>`, in order. */
  notes: Map<string, { id: number; body: string }[]>;
  addNote(project: number, iid: number, body: string): number;
  close(): Promise<void>;
}

export async function startGitLabStandIn(): Promise<GitLabStandIn> {
  const notes = new Map<string, { id: number; body: string }[]>();
  let nextId = 3000;
  const addNote = (project: number, iid: number, body: string) => {
    const id = ++nextId;
    notes.set(`${project}!${iid}`, [...(notes.get(`${project}!${iid}`) ?? []), { id, body }]);
    return id;
  };
  const api = await startApiStandIn((call, u) => {
    const m = /^\/api\/v4\/projects\/(\d+)\/merge_requests\/(\d+)\/notes(?:\/(\d+))?$/.exec(u.pathname);
    if (!m) return [404, { message: '404 Not Found' }];
    const key = `${m[1]}!${m[2]}`;
    if (call.method === 'GET' && !m[3]) {
      const per = Number(u.searchParams.get('per_page') ?? 20);
      const page = Number(u.searchParams.get('page') ?? 1);
      return [200, (notes.get(key) ?? []).slice((page - 1) * per, page * per)];
    }
    if (call.method === 'POST' && !m[3]) return [201, { id: addNote(Number(m[1]), Number(m[2]), String(call.json?.body ?? '')), body: call.json?.body }];
    if (call.method === 'PUT' && m[3]) {
      const note = (notes.get(key) ?? []).find((n) => n.id === Number(m[3]));
      if (!note) return [404, { message: '404 Not found' }];
      note.body = String(call.json?.body ?? '');
      return [200, note];
    }
    return [404, { message: '404 Not Found' }];
  });
  return {
    url: api.url, notes, addNote, close: api.close,
    get calls(): GitLabCall[] {
      return api.calls.map((c) => ({ method: c.method, path: c.path, json: c.json, token: c.headers['private-token'] as string | undefined }));
    },
  };
}
