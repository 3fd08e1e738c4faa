import type { NextFunction, Request, Response } from 'express';
import type { ChangeFeed } from '../core/store/change-feed.js';

/**
 * Serialized answers of read-mostly lists (GET /api/v1/environments), reused while nothing has
 * changed. An entry is served only when: the change feed is live and has not moved since the
 * entry was made (every committed change anywhere notifies it), no write request is running in
 * this process (read-your-writes for a client that PUTs and then lists, even before the
 * notification arrives), and the entry is younger than `maxAgeMs` (answers hold relative times
 * such as expiresInSeconds).
 */
export class ListCache {
  private readonly entries = new Map<string, { version: number; at: number; body: string }>();
  private writesInFlight = 0;

  constructor(private readonly feed: ChangeFeed, private readonly maxAgeMs = 1000, private readonly maxEntries = 200) {}

  async get(key: string, compute: () => Promise<string>): Promise<string> {
    const usable = this.feed.live && this.writesInFlight === 0;
    const version = this.feed.version;
    const hit = usable ? this.entries.get(key) : undefined;
    if (hit && hit.version === version && Date.now() - hit.at < this.maxAgeMs) return hit.body;
    const body = await compute();
    // Kept only if nothing moved while it was computed.
    if (usable && this.feed.live && this.writesInFlight === 0 && this.feed.version === version) {
      if (this.entries.size >= this.maxEntries) this.entries.clear();
      this.entries.set(key, { version, at: Date.now(), body });
    }
    return body;
  }

  /** Middleware: every request that may write (not GET/HEAD) bypasses and empties the cache until it ends. */
  writes() {
    return (req: Request, res: Response, next: NextFunction) => {
      if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return next();
      this.writesInFlight++;
      this.entries.clear();
      res.once('close', () => { this.writesInFlight--; this.entries.clear(); });
      next();
    };
  }
}
