import type { Logger } from '../platform/log.js';

/**
 * Logs an engine's errors once per change of state instead of once per attempt: a Redis out of
 * memory for 6 s once wrote 35,500 lines (48 MB). The first error says the engine is unavailable;
 * the next ones are only counted, with a reminder every `remindMs` while it lasts; after `quietMs`
 * without an error (or on `ok()`), one line says it is back, how long it was gone (first to last
 * error) and how many errors went unlogged.
 */
export class OutageLog {
  private since: number | undefined;
  private count = 0;
  private lastError = '';
  private lastAt = 0;
  private lastRemind = 0;
  private quietTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    /** What is unavailable, as a person reads it: "Redis (the job queue)". */
    private readonly what: string,
    private readonly quietMs = 2000,
    private readonly remindMs = 60_000,
  ) {}

  /** An error from the engine: logged if it starts an outage (or a reminder is due), else counted. */
  error(err: unknown): void {
    const now = Date.now();
    this.count++;
    this.lastAt = now;
    this.lastError = (err as Error)?.message ?? String(err);
    if (this.since === undefined) {
      this.since = now;
      this.lastRemind = now;
      this.logger.error({ err }, `${this.what} is unavailable: ${this.lastError}. Work that needs it waits and is retried; further errors are counted, not logged`);
    } else if (now - this.lastRemind >= this.remindMs) {
      this.lastRemind = now;
      this.logger.error({ errors: this.count, downForMs: now - this.since, lastError: this.lastError },
        `${this.what} still unavailable after ${seconds(now - this.since)}: ${this.count} errors so far (last: ${this.lastError})`);
    }
    clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => this.ok(), this.quietMs);
    this.quietTimer.unref();
  }

  /** The engine answered: ends an outage, with one line. */
  ok(): void {
    clearTimeout(this.quietTimer);
    this.quietTimer = undefined;
    if (this.since === undefined) return;
    // From the first error to the last one: what is known of the outage.
    const downFor = this.lastAt - this.since;
    this.logger.warn({ errors: this.count, downForMs: downFor },
      `${this.what} available again: unavailable for ${seconds(downFor)}, ${this.count} errors in the meantime (last: ${this.lastError})`);
    this.since = undefined;
    this.count = 0;
  }

  /** Whether an outage is going on (for /readyz-like reports). */
  get down(): boolean {
    return this.since !== undefined;
  }

  stop(): void {
    clearTimeout(this.quietTimer);
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
