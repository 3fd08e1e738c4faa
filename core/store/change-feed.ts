import pg from 'pg';
import type { Logger } from '../platform/log.js';

/** The channel a statement-level trigger on `environments` notifies after each committed change (migration 8). */
export const ENVIRONMENTS_CHANGED = 'mayfly_environments_changed';
/** The channel a trigger on `environment_events` notifies after new timeline events (migration 11). */
export const EVENTS_ADDED = 'mayfly_events_added';
/** How often a waiter looks anyway while the feed is down (or as a safety net while it is up). */
const POLL_WHILE_DOWN_MS = 500;

/**
 * Tells this process when any process (web, worker, another web) has committed a change to
 * environments: one LISTEN connection, a version number that moves on every notification.
 * NOTIFY is delivered at commit, so a reader that sees the version unchanged saw every
 * committed change. While the connection is down the feed is not `live`, and readers must not
 * trust a cached answer; it reconnects with backoff.
 */
export class ChangeFeed {
  version = 0;
  live = false;
  private client: pg.Client | undefined;
  private closed = false;
  private retryMs = 250;
  private waiters = new Set<() => void>();
  /** Moves on every notification of either channel (and on every reconnect): what next() waits past. */
  tick = 0;

  constructor(private readonly databaseUrl: string, private readonly logger: Logger) {}

  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.databaseUrl });
    client.on('notification', (n) => {
      if (n.channel === ENVIRONMENTS_CHANGED) this.version++;
      this.wakeWaiters();
    });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${ENVIRONMENTS_CHANGED}`);
      await client.query(`LISTEN ${EVENTS_ADDED}`);
      this.client = client;
      this.version++; // anything may have changed while we were not listening
      this.live = true;
      this.retryMs = 250;
    } catch (err) {
      this.lost(client, err);
    }
  }

  private lost(client: pg.Client, err?: unknown): void {
    if (this.client && this.client !== client) return;
    this.client = undefined;
    this.version++;
    this.wakeWaiters();
    if (this.live) this.logger.warn({ err }, 'environment change feed lost its PostgreSQL connection; answering without the list cache until it is back');
    this.live = false;
    client.end().catch(() => undefined);
    if (this.closed) return;
    const wait = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, 5000);
    setTimeout(() => { void this.connect(); }, wait).unref();
  }

  /**
   * Resolves at the next committed change to an environment or its timeline, or after `maxMs`
   * (whichever is first); while the feed is down, after at most half a second, so a waiter polls
   * then. Readers re-read PostgreSQL after it: a notification says only that something changed.
   * `since`: the `tick` the caller saw before it read; a change since then resolves at once.
   */
  next(maxMs: number, opts: { since?: number; signal?: AbortSignal } = {}): Promise<void> {
    const { since, signal } = opts;
    if (since !== undefined && this.tick !== since) return Promise.resolve(); // it changed while the caller read
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, this.live ? maxMs : Math.min(maxMs, POLL_WHILE_DOWN_MS));
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  private wakeWaiters(): void {
    this.tick++;
    for (const wake of [...this.waiters]) wake();
  }

  async close(): Promise<void> {
    this.wakeWaiters();
    this.closed = true;
    this.live = false;
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }
}
