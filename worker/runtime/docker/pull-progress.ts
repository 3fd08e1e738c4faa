import type { ProgressFn } from '../runtime.js';

/** One line of the Engine API's pull stream. */
export interface PullEvent {
  status?: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
}

/** At most this often a pull's progress reaches the timeline (a few updates a second at most). */
export const PULL_PROGRESS_EVERY_MS = 1000;

/**
 * Turns the Engine's pull stream (one event per layer per chunk) into a few timeline lines:
 * "pulling <image>: 3 of 5 layers, 12.3 of 24.0 MB". A status without a layer ("Pulling from",
 * "Digest", "Status: Downloaded newer image") is told once each.
 */
export class PullProgress {
  private readonly layers = new Map<string, { current: number; total: number; done: boolean }>();
  private lastStatus = '';
  private lastSent = 0;
  private pending = false;

  constructor(private readonly image: string, private readonly onProgress?: ProgressFn, private readonly everyMs = PULL_PROGRESS_EVERY_MS) {}

  seen(event: PullEvent): void {
    if (!this.onProgress) return;
    if (!event.id || !event.status) {
      if (event.status && event.status !== this.lastStatus) {
        if (this.pending) this.send(Date.now()); // the layers' last counts come before "Status: ..."
        this.lastStatus = event.status;
        this.onProgress(`${this.image}: ${event.status}`);
      }
      return;
    }
    if (/^(Pulling from|Digest|Status)/.test(event.status)) return;
    const layer = this.layers.get(event.id) ?? { current: 0, total: 0, done: false };
    if (event.status === 'Downloading' && event.progressDetail?.total) {
      layer.total = event.progressDetail.total;
      layer.current = event.progressDetail.current ?? layer.current;
    } else if (/^(Download complete|Pull complete|Already exists)/.test(event.status)) {
      layer.done = true;
      if (layer.total) layer.current = layer.total;
    }
    this.layers.set(event.id, layer);
    this.pending = true;
    const now = Date.now();
    if (now - this.lastSent >= this.everyMs) this.send(now);
  }

  /** The stream ended: the last counts, if any were not told yet. */
  done(): void {
    if (this.pending && this.onProgress) this.send(Date.now());
  }

  private send(now: number): void {
    this.lastSent = now;
    this.pending = false;
    const all = [...this.layers.values()];
    const done = all.filter((l) => l.done).length;
    const current = all.reduce((n, l) => n + l.current, 0);
    const total = all.reduce((n, l) => n + l.total, 0);
    const bytes = total ? `, ${mb(current)} of ${mb(total)} MB` : '';
    this.onProgress!(`pulling ${this.image}: ${done} of ${all.length} layers${bytes}`, { step: 'pull', image: this.image, layers: all.length, layersDone: done, bytes: current, totalBytes: total });
  }
}

function mb(n: number): string {
  return (n / 1_000_000).toFixed(1);
}
