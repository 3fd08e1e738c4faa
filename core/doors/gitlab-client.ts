import { OutboundError, callJson } from './http-out.js';

/**
 * The little of GitLab's REST API (v4) that Mayfly uses: a merge request's one note, found again
 * by its hidden marker and edited in place. Base URL and token come from configuration
 * (MAYFLY_GITLAB_URL, MAYFLY_GITLAB_TOKEN sent as PRIVATE-TOKEN), so tests point it at a local
 * stand-in and self-managed GitLab works too. Only the worker's notifier calls it.
 */
export interface MergeRequestNote { id: number; body: string }

/** How many pages of notes are read to find the marker (100 each). */
const MAX_NOTE_PAGES = 10;

function assertId(what: string, id: number): void {
  if (!Number.isSafeInteger(id) || id <= 0) throw new Error(`not a ${what} id: "${id}"`);
}

export class GitLabClient {
  constructor(private readonly baseUrl: string, private readonly token: string, private readonly timeoutMs: number) {}

  private call<T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<T> {
    return callJson<T>(method, `${this.baseUrl}/api/v4${path}`, body, { 'private-token': this.token }, this.timeoutMs);
  }

  private notes(project: number, iid: number): string {
    assertId('project', project);
    assertId('merge request', iid);
    return `/projects/${project}/merge_requests/${iid}/notes`;
  }

  /** The first note of the merge request whose body contains `marker`, reading at most 1,000 notes, oldest first. */
  async findNote(project: number, iid: number, marker: string): Promise<MergeRequestNote | undefined> {
    for (let page = 1; page <= MAX_NOTE_PAGES; page++) {
      const notes = await this.call<MergeRequestNote[]>('GET', `${this.notes(project, iid)}?sort=asc&order_by=created_at&per_page=100&page=${page}`);
      if (!Array.isArray(notes)) return undefined;
      const found = notes.find((n) => typeof n.body === 'string' && n.body.includes(marker));
      if (found) return { id: found.id, body: found.body };
      if (notes.length < 100) return undefined;
    }
    return undefined;
  }

  async createNote(project: number, iid: number, body: string): Promise<number> {
    const made = await this.call<{ id?: number }>('POST', this.notes(project, iid), { body });
    if (!made || typeof made.id !== 'number') throw new OutboundError(`POST ${this.notes(project, iid)} answered without a note id`);
    return made.id;
  }

  async updateNote(project: number, iid: number, noteId: number, body: string): Promise<void> {
    assertId('note', noteId);
    await this.call('PUT', `${this.notes(project, iid)}/${noteId}`, { body });
  }
}
