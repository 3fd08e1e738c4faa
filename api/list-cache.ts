import { createHash } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { ChangeFeed } from '../core/store/change-feed.js';

/** A serialized answer, with its bytes and ETag made once for every request it serves. */
export class CachedBody {
  readonly buffer: Buffer;
  readonly etag: string;
  constructor(readonly text: string) {
    this.buffer = Buffer.from(text);
    this.etag = `W/"${this.buffer.length.toString(16)}-${createHash('sha1').update(this.buffer).digest('base64url').slice(0, 27)}"`;
  }
}

/**
 * Serialized answers of read-mostly lists (GET /api/v1/environments), reused while nothing has
 * changed. An entry is served only when: the change feed is live and has not moved since the
 * entry was made (every committed change anywhere notifies it), no write request is running in
 * this process (read-your-writes for a client that PUTs and then lists, even before the
 * notification arrives), and the entry is younger than `maxAgeMs` (answers hold relative times
 * such as expiresInSeconds).
 */
export class ListCache {
  private readonly entries = new Map<string, { version: number; at: number; body: CachedBody }>();
  /** One computation per key and feed version at a time: a burst of misses waits for it instead of each querying. */
  private readonly computing = new Map<string, { version: number; body: Promise<CachedBody> }>();
  private writesInFlight = 0;

  constructor(private readonly feed: ChangeFeed, private readonly maxAgeMs = 1000, private readonly maxEntries = 200) {}

  async get(key: string, compute: () => Promise<string>): Promise<CachedBody> {
    const usable = this.feed.live && this.writesInFlight === 0;
    if (!usable) return new CachedBody(await compute());
    const version = this.feed.version;
    const hit = this.entries.get(key);
    if (hit && hit.version === version && Date.now() - hit.at < this.maxAgeMs) return hit.body;
    const running = this.computing.get(key);
    if (running && running.version === version) return running.body;
    const body = compute().then((text) => new CachedBody(text));
    this.computing.set(key, { version, body });
    try {
      const done = await body;
      // Kept only if nothing moved while it was computed.
      if (this.feed.live && this.writesInFlight === 0 && this.feed.version === version) {
        if (this.entries.size >= this.maxEntries) this.entries.clear();
        this.entries.set(key, { version, at: Date.now(), body: done });
      }
      return done;
    } finally {
      if (this.computing.get(key)?.body === body) this.computing.delete(key);
    }
  }

  /** Middleware: every request that may write (not GET/HEAD) bypasses and empties the cache until it ends. */
  writes() {
    return (req: Request, res: Response, next: NextFunction) => {
      if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return next();
      this.writesInFlight++;
      this.entries.clear();
      this.computing.clear();
      res.once('close', () => { this.writesInFlight--; this.entries.clear(); this.computing.clear(); });
      next();
    };
  }
}
