/**
 * The router's recent request trail, per environment (docs/data-workflows.md#bug-capsules): a
 * bounded ring in the web process's memory, read when a bug capsule is asked for. Only what a
 * developer needs to retrace a tester's steps is kept: method, path WITHOUT its query string
 * (tokens and e-mail addresses travel there), status, duration and time; never a body, a cookie
 * or a header. Each web process keeps its own ring; a restart empties it.
 */
export interface TrailEntry {
  method: string;
  /** The path only: everything from `?` or `#` on is dropped. */
  path: string;
  status: number;
  durationMs: number;
  at: string;
}

/** Paths longer than this are cut (a path can carry data too; the trail is for reading). */
const MAX_PATH = 512;
const METHOD = /^[A-Z]{1,16}$/;

export class RequestTrail {
  private readonly rings = new Map<string, { entries: TrailEntry[]; next: number }>();

  /**
   * @param perEnvironment entries kept per environment (the oldest go first)
   * @param maxEnvironments environments tracked at once (the one not heard from longest goes first)
   */
  constructor(readonly perEnvironment = 200, private readonly maxEnvironments = 1000) {
    if (!Number.isInteger(perEnvironment) || perEnvironment < 1) throw new Error(`a request trail keeps at least 1 entry per environment, got ${perEnvironment}`);
  }

  /** Records one finished request of `environmentId`; `url` may carry a query string (it is dropped). */
  record(environmentId: string, method: string | undefined, url: string | undefined, status: number, durationMs: number, at = new Date()): void {
    const path = (url ?? '/').split(/[?#]/, 1)[0]!.slice(0, MAX_PATH) || '/';
    const m = (method ?? 'GET').toUpperCase();
    const entry: TrailEntry = { method: METHOD.test(m) ? m : 'OTHER', path, status, durationMs: Math.max(0, Math.round(durationMs)), at: at.toISOString() };
    let ring = this.rings.get(environmentId);
    if (ring) this.rings.delete(environmentId); // re-inserted: the Map's order is "heard from last"
    else {
      ring = { entries: [], next: 0 };
      if (this.rings.size >= this.maxEnvironments) this.rings.delete(this.rings.keys().next().value!);
    }
    this.rings.set(environmentId, ring);
    if (ring.entries.length < this.perEnvironment) ring.entries.push(entry);
    else {
      ring.entries[ring.next] = entry;
      ring.next = (ring.next + 1) % this.perEnvironment;
    }
  }

  /** The environment's trail, oldest first (a copy). */
  recent(environmentId: string): TrailEntry[] {
    const ring = this.rings.get(environmentId);
    if (!ring) return [];
    return [...ring.entries.slice(ring.next), ...ring.entries.slice(0, ring.next)].map((e) => ({ ...e }));
  }

  /** Forgets an environment (it was destroyed). */
  forget(environmentId: string): void {
    this.rings.delete(environmentId);
  }
}
