import pg from 'pg';
import type { Logger } from '../platform/log.js';

/** The channel a statement-level trigger on `environments` notifies after each committed change (migration 8). */
export const ENVIRONMENTS_CHANGED = 'mayfly_environments_changed';

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

  constructor(private readonly databaseUrl: string, private readonly logger: Logger) {}

  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.databaseUrl });
    client.on('notification', () => { this.version++; });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${ENVIRONMENTS_CHANGED}`);
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
    if (this.live) this.logger.warn({ err }, 'environment change feed lost its PostgreSQL connection; answering without the list cache until it is back');
    this.live = false;
    client.end().catch(() => undefined);
    if (this.closed) return;
    const wait = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, 5000);
    setTimeout(() => { void this.connect(); }, wait).unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.live = false;
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }
}
